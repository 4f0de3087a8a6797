import { z } from 'zod';
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
  createdOn: z.date(),
});

export type ModelAggregate = z.infer<typeof ModelAggregateSchema>;
