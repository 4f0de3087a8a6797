import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../errors';
import type { Caller } from '../http/api-route';

type Agreeing<Keys extends string> = { [K in Keys]: z.ZodOptional<z.ZodUnknown> };

/**
 * The body of a route that mirrors FMA's REST API, read as Django REST Framework's serializers
 * read it: the keys the route `reads` are validated; every other key is dropped unread (DRF
 * ignores what a serializer does not declare, and FMA's clients send such keys). The keys in
 * `mustAgree` are ones FMA's clients send but the caller cannot choose (the server knows them:
 * the caller, the aggregate's model); they are kept as sent, whatever their type, so that the
 * handler can hold them against what the server knows with {@link assertNamesCaller} and
 * {@link assertAgrees}. (The connector operations, by contrast, refuse unknown keys.)
 *
 * @example
 * export const body = drfBody({ aggregate: EntityIdSchema, validation_results: z.unknown() }, ['client', 'federated_model']);
 * // {"aggregate": 3, "validation_results": {...}, "client": "<caller>", "federated_model": 1, "note": "x"}
 * //   -> {aggregate: 3, validation_results: {...}, client: "<caller>", federated_model: 1}  ("note" dropped)
 */
export function drfBody<Reads extends z.ZodRawShape, Keys extends string = never>(
  reads: Reads,
  mustAgree: readonly Keys[] = [],
) {
  const agreeing = Object.fromEntries(mustAgree.map((key) => [key, z.unknown().optional()])) as Agreeing<Keys>;
  // z.object strips unknown keys (z.strictObject would refuse them).
  return z.object({ ...reads, ...agreeing });
}

/**
 * A body key that names a party (`client`, `developer`) must name the caller: 403 otherwise
 * (`{"detail": ...}`). Left out, the caller is meant. A client may name itself by its public id or
 * by its credential (FMA's client sends the `uuid` it registered with).
 */
export function assertNamesCaller(given: unknown, caller: Caller, key: string): void {
  // FMA's client names itself by the UUID it sends as CLIENT-UUID; others see its public id.
  if (given === undefined || given === caller.id || (caller.kind === 'client' && given === caller.credential)) return;
  throw new ForbiddenError(`"${key}" must be the calling ${caller.kind} itself (or be left out): you cannot act for another.`);
}

/**
 * A body key the server already knows the value of must agree with it: 400
 * `{"<key>": ["must be <what> (<known>) or be left out"]}` otherwise. Left out, it is the known value.
 */
export function assertAgrees(given: unknown, known: unknown, key: string, what: string): void {
  if (given === undefined || given === known) return;
  const message = `must be ${what} (${JSON.stringify(known)}) or be left out`;
  throw new ValidationError(`${key} ${message}`, { details: [{ field: key, message }] });
}
