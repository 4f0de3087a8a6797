import type { z } from 'zod';
import { AGGREGATION_RUN_TIMEOUT_SECONDS, type AggregationRun, type AggregationRunShownStatus, type RunError } from '../entities';
import type { AggregationRunDetailJsonSchema, AggregationRunJsonSchema } from './response-schemas';

/**
 * A run as its developer reads it. A record still RUNNING past the state machine's timeout shows
 * as TIMED_OUT: Step Functions has ended the execution, or the task that would have reported the
 * end died; either way nothing runs it any more.
 */
export function aggregationRunJson(run: AggregationRun, now: Date = new Date()): z.input<typeof AggregationRunJsonSchema> {
  const ran = (run.stoppedAt ?? now).getTime() - run.startedAt.getTime();
  return {
    name: run.name,
    model: run.model,
    trigger: run.trigger,
    status: shownStatus(run, now),
    final_state: run.finalState,
    last_state: run.lastState,
    started_at: run.startedAt.toISOString(),
    stopped_at: run.stoppedAt?.toISOString() ?? null,
    duration_ms: Math.max(0, ran),
    claimed: run.claimed,
    aggregate: run.aggregate,
    error: runError(run),
  };
}

/** The same, with the run's Task states and how long each took. */
export function aggregationRunDetailJson(run: AggregationRun, now: Date = new Date()): z.input<typeof AggregationRunDetailJsonSchema> {
  return {
    ...aggregationRunJson(run, now),
    states: (run.states ?? []).map((entry) => ({
      state: entry.state,
      entered_at: entry.enteredAt.toISOString(),
      exited_at: entry.exitedAt.toISOString(),
      duration_ms: Math.max(0, entry.exitedAt.getTime() - entry.enteredAt.getTime()),
      error: entry.error,
    })),
    states_dropped: run.statesDropped,
  };
}

function shownStatus(run: AggregationRun, now: Date): AggregationRunShownStatus {
  if (run.status !== 'RUNNING') return run.status;
  return now.getTime() - run.startedAt.getTime() > AGGREGATION_RUN_TIMEOUT_SECONDS * 1_000 ? 'TIMED_OUT' : 'RUNNING';
}

/**
 * Why a run failed: what Step Functions caught, told with the failing task's own words when the
 * task recorded them (a timeout or a crash has only Step Functions' account). A run still going
 * shows what its tasks threw last (a retried failure); one that succeeded, nothing.
 */
function runError(run: AggregationRun): RunError | null {
  if (run.status === 'SUCCEEDED') return null;
  const { caught, taskError } = run;
  if (caught === null) return taskError;
  const sameError = taskError !== null && taskError.error === caught.error;
  return { state: sameError ? taskError.state : null, error: caught.error, cause: caught.cause ?? (sameError ? taskError.cause : null) };
}
