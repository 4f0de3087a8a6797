import { z } from 'zod';
import { ClientIdSchema, EntityIdSchema } from './ids';

/** A client's validation results for an aggregate (one per aggregate and client). */
export const ClientAggregateScoreSchema = z.object({
  id: EntityIdSchema,
  aggregate: EntityIdSchema,
  client: ClientIdSchema,
  validationResults: z.unknown(),
  createdOn: z.date(),
});

export type ClientAggregateScore = z.infer<typeof ClientAggregateScoreSchema>;
