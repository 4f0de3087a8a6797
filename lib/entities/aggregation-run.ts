// An aggregation run as its own tasks record it (lib/connector/mongo/run-records.ts): the same
// record on AWS and under `npm start`, since it is written by the run's Lambdas, not read from
// Step Functions' history.

/** How a run stands, as stored: RUNNING until its end task records SUCCEEDED or FAILED. */
export const AggregationRunStatus = {
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
} as const;

export type AggregationRunStatus = (typeof AggregationRunStatus)[keyof typeof AggregationRunStatus];

/**
 * How a run is shown: a RUNNING record older than the state machine's own timeout can no longer
 * be running (Step Functions ended it, or its last task died without reporting): TIMED_OUT, as
 * Step Functions names such an execution.
 */
export const AGGREGATION_RUN_SHOWN_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT'] as const;
export type AggregationRunShownStatus = (typeof AGGREGATION_RUN_SHOWN_STATUSES)[number];

/** `TimeoutSeconds` of state-machines/aggregation.json (a unit test keeps the two equal). */
export const AGGREGATION_RUN_TIMEOUT_SECONDS = 3_600;

/** What started a run, read from its execution name (lib/aggregation/triggers.ts). */
export const AGGREGATION_RUN_TRIGGERS = ['schedule', 'update', 'manual', 'other'] as const;
export type AggregationRunTrigger = (typeof AGGREGATION_RUN_TRIGGERS)[number];

/**
 * The trigger an execution name encodes: `model-<id>-schedule-<minute>` (the every-minute
 * schedule), `model-<id>-update-<minute>` (an accepted update made the round ready),
 * `model-<id>-manual-<uuid>` (`POST /aggregation/run`); any other name (an operator's own
 * StartExecution, a test) is `other`.
 *
 * @example triggerOfRun('model-7-schedule-202611300341') // 'schedule'
 */
export function triggerOfRun(name: string): AggregationRunTrigger {
  const trigger = /^model-\d+-(schedule|update|manual)-/.exec(name)?.[1];
  return (trigger as AggregationRunTrigger | undefined) ?? 'other';
}

/** An error as a run records it: Step Functions' `Error` (the name) and `Cause`. */
export interface RunError {
  /** The state whose task threw it; null when only Step Functions saw it (a crash, a timeout). */
  readonly state: string | null;
  readonly error: string;
  readonly cause: string | null;
}

/** One invocation of one Task state: when its function began and ended, and what it threw. */
export interface RunStateEntry {
  readonly state: string;
  readonly enteredAt: Date;
  readonly exitedAt: Date;
  readonly error: { readonly error: string; readonly cause: string | null } | null;
}

export interface AggregationRun {
  /** The execution name (the run id). */
  readonly name: string;
  readonly model: number;
  readonly trigger: AggregationRunTrigger;
  readonly status: AggregationRunStatus;
  /** The state the run ended in (`Aggregated`, `NothingToAggregate`, `AggregationFailed`, ...); null while running. */
  readonly finalState: string | null;
  /** The last Task state that reported. */
  readonly lastState: string | null;
  readonly startedAt: Date;
  readonly stoppedAt: Date | null;
  /** How many updates the run claimed; null when it claimed nothing (it stopped before). */
  readonly claimed: number | null;
  /** The aggregate the run wrote, if it did. */
  readonly aggregate: number | null;
  /** The last error a task of the run threw (retried ones included). */
  readonly taskError: RunError | null;
  /** What Step Functions caught and failed the run with (recorded by the run's last task). */
  readonly caught: { readonly error: string; readonly cause: string | null } | null;
  /** Only when the run is read by itself (not in lists): its Task states, in the order they ended. */
  readonly states?: readonly RunStateEntry[];
  /** Task states not kept because the run had already recorded the most a run keeps. */
  readonly statesDropped: number;
}
