import { z } from 'zod';
import { WeightsRefSchema } from '../weights/stored-weights';
import { AggregateStrategySchema } from './aggregate-strategy';
import { EntityIdSchema } from './ids';

/** The combined weights of one aggregation run; `level` counts the ancestors. */
export const ModelAggregateSchema = z.object({
  id: EntityIdSchema,
  federatedModel: EntityIdSchema,
  parent: EntityIdSchema.nullable(),
  level: z.number().int().nonnegative(),
  validationScore: z.number().nullable(),
  /** The run that produced it, when a run did. */
  run: z.string().nullable(),
  /** Where its weights are in the object store, and their shape, dtype, size and SHA-256. */
  weights: WeightsRefSchema,
  /** How it was computed, for strategies beyond the plain mean (absent for a plain mean). */
  strategy: AggregateStrategySchema.optional(),
  createdOn: z.date(),
});

export type ModelAggregate = z.infer<typeof ModelAggregateSchema>;
