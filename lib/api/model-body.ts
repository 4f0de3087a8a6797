import { z } from 'zod';
import type { MemberPreview, MetadataConnector } from '../connector';
import { ModelNameSchema, SecureAggregationOptionsSchema } from '../entities';
import { ValidationError } from '../errors';
import { drfBody } from './drf-body';
import { assertJsonLimits } from './json-limits';
import { assertValidJsonSchema } from './json-schema';

const JsonSchema = z.record(z.string(), z.unknown()).nullable();

/**
 * The settings of a model as its routes read them (FMA's FederatedModelSerializer): create takes
 * the defaults below, PUT and PATCH change only the keys given. `developer` must be the caller;
 * other keys (`id`, `current_artifact`, ...) are ignored.
 */
export const modelFields = {
  name: ModelNameSchema,
  aggregator: z.string(),
  /** The strategy's parameters (issue #11); null: none. */
  aggregator_params: z.record(z.string(), z.unknown()).nullable(),
  requirement: z.string().nullable(),
  requirement_args: z.array(z.unknown()).nullable(),
  update_schema: JsonSchema,
  client_agg_results_schema: JsonSchema,
  furthest_base_agg: z.number().int().positive().nullable(),
  allow_aggregation: z.boolean(),
  /** Issue #28: `{threshold, clip_range, bits, max_weight, stage_seconds}`; null: updates are sent in the clear. */
  secure_aggregation: SecureAggregationOptionsSchema.nullable(),
  /** Ids of existing clients, the model's members (a change replaces them). */
  clients: z.array(z.unknown()),
};

/** PATCH: every key optional. */
export const modelPatchBody = drfBody(
  Object.fromEntries(Object.entries(modelFields).map(([key, schema]) => [key, schema.optional()])) as {
    [K in keyof typeof modelFields]: z.ZodOptional<(typeof modelFields)[K]>;
  },
  ['developer'],
);

/** PUT: `name` and `aggregator` required, as on creation; the other keys are changed when given. */
export const modelPutBody = modelPatchBody.extend({ name: modelFields.name, aggregator: modelFields.aggregator });

/** The most distinct clients one request may name (repeats of an id count once). */
export const MAX_CLIENTS_PER_REQUEST = 1_000;

/**
 * The clients a body names, each of which must exist: 400 `{"clients": ["Invalid pk \"<id>\" -
 * object does not exist."]}` otherwise, as DRF's PrimaryKeyRelatedField answers. Repeats are
 * dropped and the count bounded before the database is asked, once, for all of them (issue #24).
 */
export async function requireExistingClients(connector: MetadataConnector, clients: readonly unknown[]): Promise<string[]> {
  const refuse = (message: string) => new ValidationError(`clients ${message}`, { details: [{ field: 'clients', message }] });
  const ids: string[] = [];
  for (const client of new Set(clients)) {
    if (typeof client !== 'string') throw refuse(`Incorrect type. Expected pk value, received ${typeof client}.`);
    ids.push(client);
  }
  if (ids.length > MAX_CLIENTS_PER_REQUEST) {
    throw refuse(`Ensure this field has no more than ${MAX_CLIENTS_PER_REQUEST} distinct clients (it has ${ids.length}); add members by registration.`);
  }
  const existing = await connector.existingClients(ids);
  const missing = ids.find((id) => !existing.has(id));
  if (missing !== undefined) throw refuse(`Invalid pk "${missing}" - object does not exist.`);
  return ids;
}

/**
 * The checks of a model's user JSON, for creation and changes alike, before any write: size and
 * depth limits on each field, then the JSON Schemas themselves (safe patterns, compilable).
 * Fields left out (`undefined`, a PATCH that does not touch them) are not checked.
 */
export function assertModelJson(input: {
  readonly update_schema?: Record<string, unknown> | null;
  readonly client_agg_results_schema?: Record<string, unknown> | null;
  readonly requirement_args?: unknown[] | null;
  readonly aggregator_params?: Record<string, unknown> | null;
}): void {
  for (const field of ['update_schema', 'client_agg_results_schema', 'requirement_args', 'aggregator_params'] as const) {
    if (input[field] !== undefined) assertJsonLimits(input[field], field);
  }
  for (const field of ['update_schema', 'client_agg_results_schema'] as const) {
    const schema = input[field];
    if (schema !== undefined) assertValidJsonSchema(schema, field);
  }
}

/** The members a model's representation lists (the first 1,000, and how many in all). */
export async function memberPreviewOf(connector: MetadataConnector, model: number): Promise<MemberPreview> {
  return (await connector.pullMemberPreviews([model])).get(model) ?? { clients: [], total: 0 };
}
