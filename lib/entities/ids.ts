import { z } from 'zod';

/** Ids of models, updates, aggregates, artifacts and scores: positive integers, as in FMA. */
export const EntityIdSchema = z
  .number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a positive integer id') })
  .int('must be a positive integer id')
  .positive('must be a positive integer id')
  .max(Number.MAX_SAFE_INTEGER, 'must be a positive integer id');

export type EntityId = z.infer<typeof EntityIdSchema>;

/** Client ids are UUID strings. */
export const ClientIdSchema = z.uuid({ error: 'must be a client UUID' });

/**
 * The id of an aggregation run that claims updates (a Step Functions execution name, a UUID):
 * recorded on each update it claims.
 */
export const RunIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9_.:-]+$/, 'may contain only letters, digits and _ . : -');

export type RunId = z.infer<typeof RunIdSchema>;
