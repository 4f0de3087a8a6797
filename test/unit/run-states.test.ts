import { runStateOutcome } from '../../lib/aggregation/run-states';
import { executionName } from '../../lib/aggregation/triggers';
import { AGGREGATION_RUN_TIMEOUT_SECONDS, triggerOfRun } from '../../lib/entities';
import { RUN_RECORD_KEY } from '../../lib/http/run-recording';
import definition from '../../state-machines/aggregation.json';

interface State {
  Type: string;
  Next?: string;
  Default?: string;
  Parameters?: Record<string, unknown>;
  Catch?: { ErrorEquals: string[]; Next: string }[];
  ItemProcessor?: { States: Record<string, State> };
}

/**
 * The run records (lib/http/run-recording.ts, lib/aggregation/run-states.ts) against the state
 * machine they record: every Task state says who it is, and every end the table knows is where
 * the definition goes.
 */
describe('what the aggregation state machine tells each task to record', () => {
  const states = definition.States as unknown as Record<string, State>;
  const tasks = Object.entries(states).filter(([, state]) => state.Type === 'Task');
  const terminal = (name: string | undefined) => {
    const type = name === undefined ? undefined : states[name]?.Type;
    return type === 'Succeed' ? 'SUCCEEDED' : type === 'Fail' ? 'FAILED' : undefined;
  };

  it('passes every Task state outside the shard Maps its own name, the model, the run and the start', () => {
    expect(tasks.length).toBeGreaterThan(10);
    for (const [name, state] of tasks) {
      expect({ name, envelope: state.Parameters?.[RUN_RECORD_KEY] }).toEqual({
        name,
        envelope: {
          state: name,
          'model.$': '$.model',
          'run.$': '$.run',
          'started_at.$': '$$.Execution.StartTime',
          ...(name === 'ReleaseLeaseAndFail' ? { 'caught.$': '$.error' } : {}),
        },
      });
    }
  });

  it('passes nothing to the shard tasks (one entry per shard would crowd out the run\'s own states)', () => {
    const inMaps = Object.values(states).flatMap((state) => Object.values(state.ItemProcessor?.States ?? {}));
    expect(inMaps.length).toBe(2);
    for (const state of inMaps) expect(JSON.stringify(state)).not.toContain(RUN_RECORD_KEY);
  });

  it('ends a run exactly where a task leads to a Succeed or Fail state, with that state and status', () => {
    for (const [name, state] of tasks) {
      const status = terminal(state.Next);
      const outcome = runStateOutcome(name, { result: { acquired: true, released: true } });
      expect({ name, end: outcome.end }).toEqual({ name, end: status === undefined ? undefined : { finalState: state.Next, status } });
      for (const rule of state.Catch ?? []) {
        const caughtStatus = terminal(rule.Next);
        const onError = runStateOutcome(name, { errorName: rule.ErrorEquals[0]! });
        expect({ name, caught: rule.ErrorEquals, end: onError.end }).toEqual({
          name,
          caught: rule.ErrorEquals,
          end: caughtStatus === undefined ? undefined : { finalState: rule.Next, status: caughtStatus },
        });
      }
    }
    // The one end behind a Choice: a lease another run holds.
    const choice = states[states.AcquireLease!.Next!]!;
    expect(runStateOutcome('AcquireLease', { result: { acquired: false } }).end).toEqual({ finalState: choice.Default, status: terminal(choice.Default) });
  });

  it('takes the updates claimed and the aggregate written from the tasks that answer them', () => {
    expect(runStateOutcome('ClaimUpdates', { result: { claimed: 3 } })).toEqual({ claimed: 3 });
    expect(runStateOutcome('ClaimUpdates', { result: { claimed: 0 } })).toEqual({ claimed: 0 });
    expect(runStateOutcome('AggregateUpdates', { result: { id: 12, parent: null, level: 0, model_updates: 3, invalid: 0 } })).toEqual({ aggregate: 12 });
    expect(runStateOutcome('CompleteShardedAggregation', { result: { id: 13 } })).toEqual({ aggregate: 13 });
    expect(runStateOutcome('AggregateUpdates', { errorName: 'AggregationError' })).toEqual({});
  });

  it('shows a RUNNING record as timed out after the definition\'s own timeout', () => {
    expect(AGGREGATION_RUN_TIMEOUT_SECONDS).toBe(definition.TimeoutSeconds);
  });

  it('reads the trigger from the execution names the triggers give', () => {
    expect(triggerOfRun(executionName(7, 'schedule-202611300341'))).toBe('schedule');
    expect(triggerOfRun(executionName(7, 'update-202611300341'))).toBe('update');
    expect(triggerOfRun(executionName(7, 'manual-6f1c2b1e-0000-4000-8000-000000000000'))).toBe('manual');
    expect(triggerOfRun('run-1')).toBe('other');
    expect(triggerOfRun('model-x-schedule-1')).toBe('other');
  });
});
