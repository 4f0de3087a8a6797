import type { RunStateReport } from '../connector';

/**
 * What a Task state's outcome tells about its run, beyond the state's own entry: the updates it
 * claimed, the aggregate it wrote, and whether the run ends with it (the state machine goes on
 * from it to a Succeed or Fail state). Keyed by state name, as state-machines/aggregation.json
 * names them; test/unit/run-states.test.ts reads the definition and checks every end here
 * against the states each task leads to.
 */
export type RunStateOutcome = Pick<RunStateReport, 'claimed' | 'aggregate' | 'end'>;

type Outcome = { readonly result: unknown } | { readonly errorName: string };

const ends = (finalState: string, status: 'SUCCEEDED' | 'FAILED'): RunStateOutcome => ({ end: { finalState, status } });

const numberAt = (result: unknown, key: string): number | undefined => {
  const value = typeof result === 'object' && result !== null ? (result as Record<string, unknown>)[key] : undefined;
  return typeof value === 'number' ? value : undefined;
};

const aggregateWritten = (outcome: Outcome): RunStateOutcome =>
  'result' in outcome && numberAt(outcome.result, 'id') !== undefined ? { aggregate: numberAt(outcome.result, 'id')! } : {};

const RUN_STATES: Readonly<Record<string, (outcome: Outcome) => RunStateOutcome>> = {
  // Not acquired: another run of the model is active (Choice → AnotherRunHoldsTheLease); no such
  // model: Catch NotFoundError → ModelNotFound. Both are Succeed states.
  AcquireLease: (outcome) =>
    'result' in outcome
      ? (outcome.result as { acquired?: unknown } | null)?.acquired === false
        ? ends('AnotherRunHoldsTheLease', 'SUCCEEDED')
        : {}
      : outcome.errorName === 'NotFoundError'
        ? ends('ModelNotFound', 'SUCCEEDED')
        : {},
  ClaimUpdates: (outcome) => ('result' in outcome && numberAt(outcome.result, 'claimed') !== undefined ? { claimed: numberAt(outcome.result, 'claimed')! } : {}),
  AggregateUpdates: aggregateWritten,
  CompleteShardedAggregation: aggregateWritten,
  SumSecureRound: aggregateWritten,
  ReleaseLease: (outcome) => ('result' in outcome ? ends('Aggregated', 'SUCCEEDED') : {}),
  ReleaseLeaseNothingToDo: (outcome) => ('result' in outcome ? ends('NothingToAggregate', 'SUCCEEDED') : {}),
  ReleaseLeaseAndFail: (outcome) => ('result' in outcome ? ends('AggregationFailed', 'FAILED') : {}),
};

/**
 * What the state's outcome (its task's result, or the name of the error it threw) tells about
 * the run.
 *
 * @example runStateOutcome('ClaimUpdates', { result: { claimed: 3 } }) // { claimed: 3 }
 */
export function runStateOutcome(state: string, outcome: Outcome): RunStateOutcome {
  return RUN_STATES[state]?.(outcome) ?? {};
}
