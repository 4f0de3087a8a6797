import { z } from 'zod';
import { IDEMPOTENCY_KEY_TTL_SECONDS } from '../../db/collections';
import { isDuplicateKeyError } from '../../db/driver-errors';
import type { ModelUpdate } from '../../entities';
import { ConflictError } from '../../errors';
import type { NewModelUpdate } from '../metadata-connector';
import { parseArgument } from './arguments';
import type { ConnectorContext } from './context';
import { toModelUpdate } from './documents';
import { createModelUpdates, pullModelUpdates } from './updates';

// Idempotent submission: a client that retries `POST /api/v1/model_updates/` with the same
// `Idempotency-Key` gets the update its first request created, never a second one, even when the
// two requests race.
//
// One document per (client, key) in `idempotency_keys`, `_id` `<client>/<key>`: the first request
// inserts it (the insert is the lock; a racing one collides on `_id`), creates the update with the
// key stored on it, then records the update's id. A request that died in between leaves the lock
// to expire; the next retry then finds the update by its key before creating anything.

export const IdempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** How long a first request may take before a retry may take its key over. */
const LOCK_MS = 30_000;

export async function createModelUpdateIdempotently(
  context: ConnectorContext,
  input: NewModelUpdate,
  idempotencyKey: string,
  requestHash: string,
): Promise<{ update: ModelUpdate; replayed: boolean }> {
  const key = parseArgument(IdempotencyKeySchema, idempotencyKey, 'Idempotency-Key');
  const { idempotencyKeys, modelUpdates } = await context.collections();
  const id = `${input.client}/${key}`;
  const now = new Date();
  try {
    await idempotencyKeys.insertOne({ _id: id, requestHash, update: null, lockedUntil: new Date(now.getTime() + LOCK_MS), createdOn: now });
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    const found = await idempotencyKeys.findOne({ _id: id });
    if (found === null) throw new ConflictError('A request with this Idempotency-Key was just abandoned; retry it');
    if (found.requestHash !== requestHash) {
      throw new ConflictError('This Idempotency-Key was used with a different request; use a new key for a new update');
    }
    // A racing first request is usually done within moments: wait for its answer.
    const settled = found.update === null && found.lockedUntil > now ? await waitForFirstRequest(context, id) : found.update;
    if (settled !== null) return { update: await requireUpdate(context, settled), replayed: true };
    // Did a first request that died get as far as creating the update?
    const made = await modelUpdates.findOne({ client: input.client, idempotencyKey: key });
    if (made !== null) {
      await idempotencyKeys.updateOne({ _id: id }, { $set: { update: made._id } });
      return { update: toModelUpdate(made), replayed: true };
    }
    if (found.lockedUntil > now) throw new ConflictError('A request with this Idempotency-Key is still in progress; retry it shortly');
    const { modifiedCount } = await idempotencyKeys.updateOne(
      { _id: id, update: null, lockedUntil: found.lockedUntil },
      { $set: { lockedUntil: new Date(now.getTime() + LOCK_MS) } },
    );
    if (modifiedCount !== 1) throw new ConflictError('A request with this Idempotency-Key is still in progress; retry it shortly');
  }
  let update: ModelUpdate;
  try {
    [update] = (await createModelUpdates(context, [{ ...input, idempotencyKey: key }])) as [ModelUpdate];
  } catch (error) {
    // Refused (or failed) before anything was created: the key is free for a corrected request.
    await idempotencyKeys.deleteOne({ _id: id, update: null });
    throw error;
  }
  await idempotencyKeys.updateOne({ _id: id }, { $set: { update: update.id } });
  return { update, replayed: false };
}

/** How long a racing retry waits for the first request's update before it answers 409. */
const RACE_WAIT_MS = 10_000;

/** Polls the key until the first request has recorded its update (null: it has not, in time, or it gave up). */
async function waitForFirstRequest(context: ConnectorContext, id: string): Promise<number | null> {
  const { idempotencyKeys } = await context.collections();
  const deadline = Date.now() + RACE_WAIT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const found = await idempotencyKeys.findOne({ _id: id }, { projection: { update: 1 } });
    if (found === null) return null;
    if (found.update !== null) return found.update;
  }
  return null;
}

async function requireUpdate(context: ConnectorContext, id: number): Promise<ModelUpdate> {
  const [found] = await pullModelUpdates(context, [id]);
  if (found === undefined) throw new ConflictError('The update this Idempotency-Key created is gone (its model was deleted)');
  return found;
}

/**
 * Deletes the Idempotency-Key records created before `now` less IDEMPOTENCY_KEY_TTL_SECONDS: what
 * the TTL index does on MongoDB, done by the daily sweep where the server has no TTL indexes
 * (FerretDB v1). Answers how many it deleted.
 */
export async function deleteExpiredIdempotencyKeys(context: ConnectorContext, now: Date): Promise<number> {
  const { idempotencyKeys } = await context.collections();
  const { deletedCount } = await idempotencyKeys.deleteMany({ createdOn: { $lt: new Date(now.getTime() - IDEMPOTENCY_KEY_TTL_SECONDS * 1_000) } });
  return deletedCount;
}
