import { z } from 'zod';
import { isDuplicateKeyError } from '../../db/driver-errors';
import { RunIdSchema } from '../../entities';
import { ConflictError } from '../../errors';
import type { LeaseResult, Ref } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { requireModel } from './models';
import { DEFAULT_MAX_ATTEMPTS, recoverAbandonedUpdates } from './runs';

// Aggregation leases: one document per model, held by at most one run at a time, so two runs of
// a model never overlap and its aggregate chain never forks.

/**
 * Takes the model's aggregation lease for `run` (or renews it, if the run holds it). A lease that
 * expired is taken over, and the updates its dead run left RUNNING are marked FAILED first.
 */
export async function acquireAggregationLease(
  context: ConnectorContext,
  model: Ref,
  run: string,
  ttlSeconds: number,
  options: { readonly maxAttempts?: number } = {},
): Promise<LeaseResult> {
  const { id } = await requireModel(context, model);
  const runId = parseArgument(RunIdSchema, run, 'run');
  const ttl = parseArgument(z.number().int().positive().max(86_400), ttlSeconds, 'ttl_seconds');
  const { aggregationLeases } = await context.collections();
  const now = new Date();
  const expiresAt = new Date(now.getTime() + ttl * 1_000);
  try {
    // Matches a lease that is free (expired) or already ours; a lease held by a live run
    // matches nothing, and the upsert then collides on _id: that is the "no".
    await aggregationLeases.findOneAndUpdate(
      { _id: id, $or: [{ expiresAt: { $lte: now } }, { run: runId }] },
      { $set: { run: runId, acquiredAt: now, expiresAt } },
      { upsert: true },
    );
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    const holder = await aggregationLeases.findOne({ _id: id });
    return { acquired: false, heldBy: holder?.run ?? 'unknown', expiresAt: holder?.expiresAt ?? now, recovered: 0 };
  }
  const recovered = await recoverAbandonedUpdates(context, id, runId, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  return { acquired: true, heldBy: runId, expiresAt, recovered };
}

/**
 * Extends the lease `run` holds by `ttlSeconds` from now (each task of a run, and a long task as
 * it goes, so that a lease can be short and a dead run hold its model only briefly). ConflictError
 * when the run no longer holds it: another run took it over after it expired.
 */
export async function renewAggregationLease(context: ConnectorContext, model: Ref, run: string, ttlSeconds: number): Promise<{ expiresAt: Date }> {
  const id = parseArgument(RefSchema, model, 'model');
  const runId = parseArgument(RunIdSchema, run, 'run');
  const ttl = parseArgument(z.number().int().positive().max(86_400), ttlSeconds, 'ttl_seconds');
  const { aggregationLeases } = await context.collections();
  const expiresAt = new Date(Date.now() + ttl * 1_000);
  const { matchedCount } = await aggregationLeases.updateOne({ _id: id, run: runId }, { $set: { expiresAt } });
  if (matchedCount === 0) throw new ConflictError(`Run ${runId} no longer holds the aggregation lease of federated model ${id}`);
  return { expiresAt };
}

/** Throws ConflictError unless `run` holds an unexpired lease on the model. */
export async function assertAggregationLease(context: ConnectorContext, model: Ref, run: string): Promise<void> {
  const id = parseArgument(RefSchema, model, 'model');
  const runId = parseArgument(RunIdSchema, run, 'run');
  const { aggregationLeases } = await context.collections();
  const held = await aggregationLeases.countDocuments({ _id: id, run: runId, expiresAt: { $gt: new Date() } });
  if (held === 0) throw new ConflictError(`Run ${runId} does not hold the aggregation lease of federated model ${id}`);
}

export async function releaseAggregationLease(context: ConnectorContext, model: Ref, run: string): Promise<{ released: boolean }> {
  const id = parseArgument(RefSchema, model, 'model');
  const runId = parseArgument(RunIdSchema, run, 'run');
  const { aggregationLeases } = await context.collections();
  const { deletedCount } = await aggregationLeases.deleteOne({ _id: id, run: runId });
  return { released: deletedCount === 1 };
}
