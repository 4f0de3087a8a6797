import { z } from 'zod';
import { EntityIdSchema } from './ids';
import { SecureAggregationOptionsSchema } from './secure-aggregation';

/** A JSON Schema document (validated with ajv where it is used). */
export const JsonSchemaSchema = z.record(z.string(), z.unknown());

/** A federated model: how its updates are combined, and when (its members are kept apart, see the connector). */
export const FederatedModelSchema = z.object({
  id: EntityIdSchema,
  name: z.string(),
  /** The developer who owns the model; null for models created by operators. */
  developer: z.string().nullable(),
  /** Name of the aggregator (see lib/algorithms). */
  aggregator: z.string(),
  /** The strategy's parameters (issue #11), or null for none. */
  aggregatorParams: z.record(z.string(), z.unknown()).nullable(),
  /** Name of the requirement that gates a run, or null for none. */
  requirement: z.string().nullable(),
  requirementArgs: z.array(z.unknown()),
  updateSchema: JsonSchemaSchema.nullable(),
  clientAggResultsSchema: JsonSchemaSchema.nullable(),
  /** Updates may be based on the parent aggregate or its `furthestBaseAgg - 1` nearest ancestors. */
  furthestBaseAgg: z.number().int().positive().nullable(),
  allowAggregation: z.boolean(),
  /** Issue #28: set, the model takes masked inputs through secure rounds only (lib/secure-aggregation). */
  secureAggregation: SecureAggregationOptionsSchema.nullable(),
  currentArtifact: EntityIdSchema.nullable(),
  /**
   * The shape every update must have (the latest aggregate's, else the current artifact's, else
   * the first accepted update's); null until the model has any weights.
   */
  weightsShape: z
    .object({
      layout: z.enum(['vector', 'layers']),
      shapes: z.array(z.array(z.number().int().nonnegative()).readonly()).readonly(),
      length: z.number().int().nonnegative(),
    })
    .nullable(),
  createdOn: z.date(),
  lastModified: z.date(),
});

export type FederatedModel = z.infer<typeof FederatedModelSchema>;
