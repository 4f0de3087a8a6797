import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { RunIdSchema, UpdateStatus } from '../../entities';
import type { Ref, RunSettlement } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { historyEntry } from './queries';
import { readyUpdatesFilter } from './updates';

// The state machine's view of a run: every operation here names the run, never a list of update
// ids, so a run's Step Functions state stays the same size whatever the number of updates (the
// state is limited to 256 KB, about 30,000 ids). The run id is the handle on what the run holds:
// each update it claimed carries it in `claimedBy`.

const AttemptsSchema = z.number().int().positive().max(100);

/**
 * Claims every ready update of the model (the ones `pullModelUpdatesReadyForAggregation` lists)
 * for the run, in one guarded `updateMany`, and counts what the run holds. A retried claim claims
 * whatever became ready since, and answers the run's total.
 */
export async function claimReadyUpdates(
  context: ConnectorContext,
  model: Ref,
  parentAgg: Ref | null,
  run: string,
): Promise<{ run: string; claimed: number }> {
  const runId = parseArgument(RunIdSchema, run, 'run');
  const { filter, model: id } = await readyUpdatesFilter(context, model, parentAgg);
  const { modelUpdates } = await context.collections();
  const now = new Date();
  await modelUpdates.updateMany(filter, {
    $set: { status: UpdateStatus.RUNNING, claimedBy: runId, claimedAt: now, statusReason: null },
    $push: historyEntry({ status: UpdateStatus.RUNNING, at: now, run: runId, reason: null }),
  });
  return { run: runId, claimed: await modelUpdates.countDocuments({ federatedModel: id, status: UpdateStatus.RUNNING, claimedBy: runId }) };
}

/**
 * RUNNING → COMPLETE for every update the run holds, with the aggregate recorded on it, in one
 * `updateMany`: each update moves from "claimed" to "in this aggregate, complete" in a single
 * atomic write, so there is no moment at which an update sits in an aggregate and could still be
 * returned to the pool.
 */
export async function completeRun(context: ConnectorContext, model: Ref, run: string, aggregate: Ref): Promise<{ completed: number }> {
  const id = parseArgument(RefSchema, model, 'model');
  const runId = parseArgument(RunIdSchema, run, 'run');
  const aggregateId = parseArgument(RefSchema, aggregate, 'aggregate');
  const { modelUpdates } = await context.collections();
  const now = new Date();
  const { modifiedCount } = await modelUpdates.updateMany(
    { federatedModel: id, status: UpdateStatus.RUNNING, claimedBy: runId },
    {
      $set: { status: UpdateStatus.COMPLETE, appliedAggregate: aggregateId, statusReason: null, transition: randomUUID() },
      $push: historyEntry({ status: UpdateStatus.COMPLETE, at: now, run: runId, reason: null }),
    },
  );
  return { completed: modifiedCount };
}

/**
 * Ends a run that failed or died after its claim, from the database alone (no id list needed):
 *
 * - If the run wrote an aggregate, the aggregate stands: it was built from every update the run
 *   held, so they are recorded in it and complete. They are never returned to the pool, which
 *   would count them twice.
 * - Otherwise each update goes back to the pool (FAILED) with one more failed attempt, or, at
 *   `maxAttempts`, to INVALID with the reason, so a round that can never succeed stops being
 *   claimed every minute.
 */
export async function settleRun(
  context: ConnectorContext,
  model: Ref,
  run: string,
  reason: string,
  maxAttempts: number,
): Promise<RunSettlement> {
  const id = parseArgument(RefSchema, model, 'model');
  const runId = parseArgument(RunIdSchema, run, 'run');
  const attempts = parseArgument(AttemptsSchema, maxAttempts, 'max_attempts');
  const { modelAggregates, modelUpdates } = await context.collections();
  const written = await modelAggregates.findOne({ federatedModel: id, run: runId }, { projection: { _id: 1 } });
  if (written !== null) {
    const { completed } = await completeRun(context, id, runId, written._id);
    return { aggregate: written._id, completed, failed: 0, invalid: 0 };
  }
  const now = new Date();
  const held = { federatedModel: id, status: UpdateStatus.RUNNING, claimedBy: runId };
  const givenUp = `gave up after ${attempts} failed aggregation attempts; the last: ${reason}`.slice(0, 1_000);
  // Two guarded writes, each moving an update at most once: the last attempt first, then the rest.
  const invalid = await modelUpdates.updateMany(
    { ...held, failedAttempts: { $gte: attempts - 1 } },
    {
      $set: { status: UpdateStatus.INVALID, statusReason: givenUp, transition: randomUUID() },
      $inc: { failedAttempts: 1 },
      $push: historyEntry({ status: UpdateStatus.INVALID, at: now, run: runId, reason: givenUp }),
    },
  );
  const failed = await modelUpdates.updateMany(held, {
    $set: { status: UpdateStatus.FAILED, statusReason: reason, transition: randomUUID() },
    $inc: { failedAttempts: 1 },
    $push: historyEntry({ status: UpdateStatus.FAILED, at: now, run: runId, reason }),
  });
  return { aggregate: null, completed: 0, failed: failed.modifiedCount, invalid: invalid.modifiedCount };
}

/** How many failed runs an update goes through before it is given up on (INVALID). */
export const DEFAULT_MAX_ATTEMPTS = 3;

/**
 * Settles the runs that left updates of the model RUNNING: every run but `run`. Called by the run
 * that has just taken the model's lease, so no other run of the model is alive; each dead run is
 * settled as {@link settleRun} says (its aggregate stands, or its updates go back with one more
 * attempt). Returns how many updates were settled.
 */
export async function recoverAbandonedUpdates(context: ConnectorContext, model: number, run: string, maxAttempts: number): Promise<number> {
  const { modelUpdates } = await context.collections();
  const deadRuns = (await modelUpdates.distinct('claimedBy', {
    federatedModel: model,
    status: UpdateStatus.RUNNING,
    claimedBy: { $ne: run },
  })) as (string | null)[];
  let settled = 0;
  for (const dead of deadRuns) {
    if (dead === null) continue;
    const result = await settleRun(context, model, dead, `abandoned by its run ${dead}; recovered by ${run}`, maxAttempts);
    settled += result.completed + result.failed + result.invalid;
  }
  return settled;
}

/**
 * RUNNING → INVALID for updates of the run that can never be aggregated (bytes missing or
 * corrupt, metadata the aggregator cannot use), so the run can go on with the rest.
 */
export async function invalidateRunUpdates(
  context: ConnectorContext,
  run: string,
  updates: readonly number[],
  reason: string,
): Promise<{ invalid: number }> {
  const runId = parseArgument(RunIdSchema, run, 'run');
  if (updates.length === 0) return { invalid: 0 };
  const { modelUpdates } = await context.collections();
  const now = new Date();
  const why = reason.slice(0, 1_000);
  const { modifiedCount } = await modelUpdates.updateMany(
    { _id: { $in: [...updates] }, status: UpdateStatus.RUNNING, claimedBy: runId },
    {
      $set: { status: UpdateStatus.INVALID, statusReason: why, transition: randomUUID() },
      $push: historyEntry({ status: UpdateStatus.INVALID, at: now, run: runId, reason: why }),
    },
  );
  return { invalid: modifiedCount };
}
