import type { Filter } from 'mongodb';
import { z } from 'zod';
import {
  AGGREGATION_RUN_MAX_STATES,
  AGGREGATION_RUN_TTL_SECONDS,
  type AggregationRunDocument,
} from '../../db/collections';
import { isDuplicateKeyError } from '../../db/driver-errors';
import {
  AGGREGATION_RUN_SHOWN_STATUSES,
  AGGREGATION_RUN_TIMEOUT_SECONDS,
  AggregationRunStatus,
  RunIdSchema,
  storableDiagnostic,
  triggerOfRun,
  type AggregationRun,
} from '../../entities';
import type { Page, Paged, Ref, RunStateReport } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';

// The record of each aggregation run, written by the run's own tasks (one upsert per Task state,
// sent by the task wrapper: lib/http/run-recording.ts), so that a model's developer sees the same
// runs on AWS and under `npm start`, without reading Step Functions' history.

const StateName = z.string().min(1).max(80);
const Diagnostic = z
  .string()
  .transform((text) => storableDiagnostic(text.length > 1_000 ? `${text.slice(0, 1_000)}…` : text))
  .nullable();
const ErrorName = z.string().min(1).max(200);

const ReportSchema = z.object({
  run: RunIdSchema,
  model: RefSchema,
  state: StateName,
  startedAt: z.date().optional(),
  enteredAt: z.date(),
  exitedAt: z.date(),
  error: z.object({ state: StateName.nullable(), error: ErrorName, cause: Diagnostic }).nullable().optional(),
  caught: z.object({ error: ErrorName, cause: Diagnostic }).nullable().optional(),
  claimed: z.number().int().nonnegative().optional(),
  aggregate: z.number().int().positive().optional(),
  end: z.object({ finalState: StateName, status: z.enum([AggregationRunStatus.SUCCEEDED, AggregationRunStatus.FAILED]) }).optional(),
});

/**
 * Adds a Task state's entry to its run's record and sets what the state learnt (the updates
 * claimed, the aggregate written, the error it threw, the end), creating the record on the run's
 * first report: one `updateOne` upsert, whatever the state. The entries are bounded by a count
 * in the filter rather than by `$push`'s `$slice`, which FerretDB v1 ignores: past
 * AGGREGATION_RUN_MAX_STATES the upsert's insert collides on `_id`, and a second, rare write sets
 * what the state learnt without its entry.
 */
export async function recordRunState(context: ConnectorContext, report: RunStateReport): Promise<void> {
  const parsed = parseArgument(ReportSchema, report, 'report');
  const { aggregationRuns } = await context.collections();
  const set: Partial<AggregationRunDocument> = { lastState: parsed.state };
  if (parsed.claimed !== undefined) set.claimed = parsed.claimed;
  if (parsed.aggregate !== undefined) set.aggregate = parsed.aggregate;
  if (parsed.error) set.taskError = parsed.error;
  if (parsed.caught) set.caught = parsed.caught;
  if (parsed.end !== undefined) {
    set.status = parsed.end.status;
    set.finalState = parsed.end.finalState;
    set.stoppedAt = parsed.exitedAt;
  }
  const created: Omit<AggregationRunDocument, '_id' | 'states' | 'stateCount'> = {
    model: parsed.model,
    trigger: triggerOfRun(parsed.run),
    status: AggregationRunStatus.RUNNING,
    finalState: null,
    lastState: null,
    startedAt: parsed.startedAt ?? parsed.enteredAt,
    stoppedAt: null,
    claimed: null,
    aggregate: null,
    taskError: null,
    caught: null,
    statesDropped: 0,
  };
  // A field may be in one of $set and $setOnInsert only.
  const setOnInsert = Object.fromEntries(Object.entries(created).filter(([key]) => !(key in set)));
  const entry = {
    state: parsed.state,
    enteredAt: parsed.enteredAt,
    exitedAt: parsed.exitedAt,
    error: parsed.error ? { error: parsed.error.error, cause: parsed.error.cause } : null,
  };
  try {
    await aggregationRuns.updateOne(
      { _id: parsed.run, stateCount: { $lt: AGGREGATION_RUN_MAX_STATES } },
      { $setOnInsert: setOnInsert, $set: set, $push: { states: entry }, $inc: { stateCount: 1 } },
      { upsert: true },
    );
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    await aggregationRuns.updateOne({ _id: parsed.run }, { $set: set, $inc: { statesDropped: 1 } });
  }
}

const ShownStatusSchema = z.enum(AGGREGATION_RUN_SHOWN_STATUSES).optional();

/** A model's runs, newest first (or oldest), without their states. */
export async function listAggregationRuns(
  context: ConnectorContext,
  model: Ref,
  filter: { readonly status?: string; readonly now?: Date },
  page: Page,
): Promise<Paged<AggregationRun>> {
  const id = parseArgument(RefSchema, model, 'model');
  const status = parseArgument(ShownStatusSchema, filter.status, 'status');
  const cutoff = new Date((filter.now ?? new Date()).getTime() - AGGREGATION_RUN_TIMEOUT_SECONDS * 1_000);
  const query: Filter<AggregationRunDocument> =
    status === undefined
      ? { model: id }
      : status === 'RUNNING'
        ? { model: id, status: 'RUNNING', startedAt: { $gt: cutoff } }
        : status === 'TIMED_OUT'
          ? { model: id, status: 'RUNNING', startedAt: { $lte: cutoff } }
          : { model: id, status };
  const { aggregationRuns } = await context.collections();
  const direction = page.order === 'oldest' ? 1 : -1;
  const [count, found] = await Promise.all([
    aggregationRuns.countDocuments(query),
    aggregationRuns
      .find(query, { projection: { states: 0 } })
      .sort({ startedAt: direction, _id: direction })
      .skip((page.page - 1) * page.pageSize)
      .limit(page.pageSize)
      .toArray(),
  ]);
  return { count, items: found.map(toAggregationRun) };
}

/** One run of the model, with its states. */
export async function pullAggregationRun(context: ConnectorContext, model: Ref, name: string): Promise<AggregationRun | null> {
  const id = parseArgument(RefSchema, model, 'model');
  const run = parseArgument(RunIdSchema, name, 'name');
  const { aggregationRuns } = await context.collections();
  const found = await aggregationRuns.findOne({ _id: run, model: id });
  return found === null ? null : toAggregationRun(found);
}

/** Deletes the records of runs that started more than AGGREGATION_RUN_TTL_SECONDS before `now` (the daily sweep, where there is no TTL index). */
export async function deleteExpiredAggregationRuns(context: ConnectorContext, now: Date): Promise<number> {
  const { aggregationRuns } = await context.collections();
  const { deletedCount } = await aggregationRuns.deleteMany({ startedAt: { $lt: new Date(now.getTime() - AGGREGATION_RUN_TTL_SECONDS * 1_000) } });
  return deletedCount;
}

function toAggregationRun(document: Partial<AggregationRunDocument> & Pick<AggregationRunDocument, '_id' | 'model' | 'startedAt'>): AggregationRun {
  return {
    name: document._id,
    model: document.model,
    trigger: document.trigger ?? triggerOfRun(document._id),
    status: document.status ?? AggregationRunStatus.RUNNING,
    finalState: document.finalState ?? null,
    lastState: document.lastState ?? null,
    startedAt: document.startedAt,
    stoppedAt: document.stoppedAt ?? null,
    claimed: document.claimed ?? null,
    aggregate: document.aggregate ?? null,
    taskError: document.taskError ?? null,
    caught: document.caught ?? null,
    ...(document.states === undefined ? {} : { states: document.states.map((entry) => ({ ...entry, error: entry.error ?? null })) }),
    statesDropped: document.statesDropped ?? 0,
  };
}
