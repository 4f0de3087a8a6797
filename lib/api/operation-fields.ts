import { z } from 'zod';
import { EntityIdSchema, RunIdSchema } from '../entities';

/**
 * Input fields of the connector-operation Lambdas, named as the seed's parameters. An entity is
 * passed by its integer id.
 */
export const Id = EntityIdSchema;
export const IdList = z.array(EntityIdSchema, { error: 'must be a list of positive integer ids' }).max(100_000);
export const OptionalParent = EntityIdSchema.nullable().default(null);
export const Run = RunIdSchema;
export const IncludeWeights = z.boolean({ error: 'must be true or false' }).default(false);
