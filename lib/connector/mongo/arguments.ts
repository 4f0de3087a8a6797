import { z } from 'zod';
import { EntityIdSchema, RunIdSchema } from '../../entities';
import { validationErrorFromZod } from '../../errors/from-zod';

/** An entity id, or an entity (as FMA passed model objects) reduced to its id. */
export const RefSchema = z.union([EntityIdSchema, z.object({ id: EntityIdSchema }).transform((entity) => entity.id)]);
export const RefListSchema = z.array(RefSchema).max(100_000, 'must hold at most 100000 ids');
export const OptionalRunSchema = RunIdSchema.optional();

/** Parses arguments, turning a zod failure into a ValidationError that names the argument. */
export function parseArgument<S extends z.ZodType>(schema: S, value: unknown, name: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationErrorFromZod(prefixIssues(parsed.error, name), `argument ${name}`);
  return parsed.data;
}

function prefixIssues(error: z.ZodError, name: string): z.ZodError {
  return new z.ZodError(error.issues.map((issue) => ({ ...issue, path: [name, ...issue.path] })));
}

/** The ids of a list argument, each once, in their first order. */
export function parseIdList(value: unknown, name = 'model_updates'): number[] {
  return uniqueIds(parseArgument(RefListSchema, value, name));
}

export function uniqueIds(ids: readonly number[]): number[] {
  return [...new Set(ids)];
}
