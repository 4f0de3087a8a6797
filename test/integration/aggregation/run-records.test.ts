import { MongoMetadataConnector } from '../../../lib/connector';
import { AGGREGATION_RUN_MAX_STATES } from '../../../lib/db/collections';
import type { AggregationRun, FederatedModel } from '../../../lib/entities';
import { handler as releaseLease } from '../../../functions/aggregation/release-lease';
import { executeAggregationLocally } from '../../helpers/local-execution';
import { useHandlerDatabase } from '../../helpers/database';
import { AGGREGATED_RUN_STATES } from '../../helpers/run-states';

/**
 * Each run's record (aggregation_runs), written by the run's own tasks as the very state machine
 * definition runs them: the states in the order they ended, what the run claimed and wrote, how it
 * ended and why it failed; a run that dies stays RUNNING.
 */
describe('the record each aggregation run keeps of itself', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  beforeAll(() => {
    connector = database.connector;
  });

  async function modelWithUpdates(data: number[][], options: Partial<Parameters<MongoMetadataConnector['createFederatedModel']>[0]> = {}): Promise<FederatedModel> {
    const clients = await Promise.all(data.map(async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'recorded', aggregator: 'avg_values_if_data', clients, ...options });
    for (const [i, values] of data.entries()) await connector.createModelUpdate({ federatedModel: model.id, client: clients[i]!, data: values });
    return model;
  }

  const states = (run: AggregationRun | null) => run!.states!.map((entry) => entry.state);

  /** Entries in order: each begins after the one before it ended, and ends after it began. */
  function expectTimedInOrder(run: AggregationRun) {
    const entries = run.states!;
    expect(run.startedAt.getTime()).toBeLessThanOrEqual(entries[0]!.enteredAt.getTime());
    for (const [i, entry] of entries.entries()) {
      expect(entry.exitedAt.getTime()).toBeGreaterThanOrEqual(entry.enteredAt.getTime());
      if (i > 0) expect(entry.enteredAt.getTime()).toBeGreaterThanOrEqual(entries[i - 1]!.exitedAt.getTime());
    }
  }

  it('records an aggregated run: every Task state in order with its times, the updates claimed, the aggregate, SUCCEEDED', async () => {
    const model = await modelWithUpdates([[1, 2, 4], [5, 2, 3]]);
    const name = `model-${model.id}-manual-recorded`;
    const before = new Date();
    const result = await executeAggregationLocally({ model: model.id, run: name });
    expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });

    const run = await connector.pullAggregationRun(model.id, name);
    const aggregate = await connector.pullLatestModelAggregate(model);
    expect(run).toMatchObject({
      name,
      model: model.id,
      trigger: 'manual',
      status: 'SUCCEEDED',
      finalState: 'Aggregated',
      lastState: 'ReleaseLease',
      claimed: 2,
      aggregate: aggregate!.id,
      taskError: null,
      caught: null,
      statesDropped: 0,
    });
    expect(states(run)).toEqual([...AGGREGATED_RUN_STATES]);
    expect(run!.states!.every((entry) => entry.error === null)).toBe(true);
    expectTimedInOrder(run!);
    // The execution's own start (Step Functions' $$.Execution.StartTime), and its end: the last task's.
    expect(run!.startedAt.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1);
    expect(run!.stoppedAt).toEqual(run!.states!.at(-1)!.exitedAt);
    // Another model does not see it.
    expect(await connector.pullAggregationRun(model.id + 1_000, name)).toBeNull();
  });

  it('records a run with nothing to do as SUCCEEDED in NothingToAggregate, having claimed nothing', async () => {
    const model = await modelWithUpdates([[1, 1]], { requirement: 'require_x_updates', requirementArgs: [2] });
    const name = `model-${model.id}-schedule-202612010000`;
    expect(await executeAggregationLocally({ model: model.id, run: name })).toMatchObject({ finalState: 'NothingToAggregate' });
    const run = await connector.pullAggregationRun(model.id, name);
    expect(run).toMatchObject({ trigger: 'schedule', status: 'SUCCEEDED', finalState: 'NothingToAggregate', claimed: null, aggregate: null, taskError: null });
    expect(states(run)).toEqual(['AcquireLease', 'PullModel', 'PullLatestAggregate', 'CheckRequirement', 'ReleaseLeaseNothingToDo']);
  });

  it('records a run that fails before the claim with the state, error and message that failed it', async () => {
    const model = await modelWithUpdates([[1, 1]]);
    // Written around the API's checks, as a migration could: the run cannot evaluate it.
    await database.db.collection('federated_models').updateOne({ _id: model.id as never }, { $set: { requirement: 'no_such_requirement' } });
    const name = `model-${model.id}-update-202612010000`;
    expect(await executeAggregationLocally({ model: model.id, run: name })).toMatchObject({ finalState: 'AggregationFailed' });

    const run = await connector.pullAggregationRun(model.id, name);
    expect(run).toMatchObject({ trigger: 'update', status: 'FAILED', finalState: 'AggregationFailed', claimed: null, caught: { error: 'RequirementError', cause: null } });
    expect(run!.taskError).toMatchObject({ state: 'CheckRequirement', error: 'RequirementError', cause: expect.stringContaining('no_such_requirement') });
    expect(states(run)).toEqual(['AcquireLease', 'PullModel', 'PullLatestAggregate', 'CheckRequirement', 'ReleaseLeaseAndFail']);
    expect(run!.states![3]!.error).toEqual({ error: 'RequirementError', cause: run!.taskError!.cause });
    expectTimedInOrder(run!);
  });

  it('records a run that fails after its claim: the failing task, FailRun, and the lease released last', async () => {
    const model = await modelWithUpdates([[1, 1], [3, 3]]);
    const name = `model-${model.id}-manual-lease-lost`;
    const result = await executeAggregationLocally(
      { model: model.id, run: name },
      {
        // The lease is gone when the aggregation task starts: it refuses to go on (ConflictError).
        aroundTask: async (call) => {
          if (call.stateName === 'AggregateUpdates') await database.db.collection('aggregation_leases').deleteOne({ _id: model.id as never });
          return call.invoke();
        },
      },
    );
    expect(result).toMatchObject({ status: 'FAILED', finalState: 'AggregationFailed' });
    const run = await connector.pullAggregationRun(model.id, name);
    expect(run).toMatchObject({ status: 'FAILED', claimed: 2, aggregate: null, caught: { error: 'ConflictError', cause: null } });
    expect(run!.taskError).toMatchObject({ state: 'AggregateUpdates', error: 'ConflictError', cause: expect.stringContaining('lease') });
    expect(states(run)).toEqual([
      'AcquireLease',
      'PullModel',
      'PullLatestAggregate',
      'CheckRequirement',
      'ClaimUpdates',
      'PlanAggregation',
      'AggregateUpdates',
      'FailRun',
      'ReleaseLeaseAndFail',
    ]);
    expect(run!.states!.map((entry) => entry.error?.error ?? null)).toEqual([null, null, null, null, null, null, 'ConflictError', null, null]);
  });

  it('leaves a run that died mid-way RUNNING, after the last state that reported, and lists it as running or, past the timeout, as timed out', async () => {
    const model = await modelWithUpdates([[2, 2], [4, 4]]);
    const name = `model-${model.id}-manual-crashed`;
    expect(await executeAggregationLocally({ model: model.id, run: name }, { haltAfter: 'ClaimUpdates' })).toMatchObject({ status: 'HALTED' });
    const run = await connector.pullAggregationRun(model.id, name);
    expect(run).toMatchObject({ status: 'RUNNING', finalState: null, stoppedAt: null, lastState: 'ClaimUpdates', claimed: 2 });

    const page = { page: 1, pageSize: 10 };
    const names = async (status?: 'RUNNING' | 'TIMED_OUT' | 'SUCCEEDED', now?: Date) =>
      (await connector.listAggregationRuns(model.id, { status, now }, page)).items.map((item) => item.name);
    expect(await names('RUNNING')).toEqual([name]);
    expect(await names('TIMED_OUT')).toEqual([]);
    expect(await names('SUCCEEDED')).toEqual([]);
    // An hour and a bit later, nothing can still be running it (the state machine's timeout is 3,600 s).
    const later = new Date(Date.now() + 3_700_000);
    expect(await names('RUNNING', later)).toEqual([]);
    expect(await names('TIMED_OUT', later)).toEqual([name]);
    // Lists leave the states out.
    expect((await connector.listAggregationRuns(model.id, {}, page)).items[0]!.states).toBeUndefined();
  });

  it('lists a model\'s runs newest first, page by page, and counts them all', async () => {
    const model = await modelWithUpdates([]);
    const base = Date.now() - 60_000;
    for (let i = 0; i < 5; i++) {
      const at = new Date(base + i * 1_000);
      await connector.recordRunState({ run: `model-${model.id}-manual-list-${i}`, model: model.id, state: 'AcquireLease', startedAt: at, enteredAt: at, exitedAt: at });
    }
    const first = await connector.listAggregationRuns(model.id, {}, { page: 1, pageSize: 2 });
    const last = await connector.listAggregationRuns(model.id, {}, { page: 3, pageSize: 2 });
    expect(first.count).toBe(5);
    expect(first.items.map((run) => run.name)).toEqual([`model-${model.id}-manual-list-4`, `model-${model.id}-manual-list-3`]);
    expect(last.items.map((run) => run.name)).toEqual([`model-${model.id}-manual-list-0`]);
  });

  it(`keeps at most ${AGGREGATION_RUN_MAX_STATES} state entries per run, and still records the end past them`, async () => {
    const model = await modelWithUpdates([]);
    const run = `model-${model.id}-manual-pathological`;
    const at = new Date();
    for (let i = 0; i < AGGREGATION_RUN_MAX_STATES + 5; i++) {
      await connector.recordRunState({ run, model: model.id, state: 'CheckRequirement', enteredAt: at, exitedAt: at, error: { state: 'CheckRequirement', error: 'DependencyError', cause: `attempt ${i}` } });
    }
    await connector.recordRunState({ run, model: model.id, state: 'ReleaseLeaseAndFail', enteredAt: at, exitedAt: at, end: { finalState: 'AggregationFailed', status: 'FAILED' } });
    const found = await connector.pullAggregationRun(model.id, run);
    expect(found!.states).toHaveLength(AGGREGATION_RUN_MAX_STATES);
    expect(found).toMatchObject({ statesDropped: 6, status: 'FAILED', finalState: 'AggregationFailed', lastState: 'ReleaseLeaseAndFail' });
    expect(found!.taskError!.cause).toBe(`attempt ${AGGREGATION_RUN_MAX_STATES + 4}`);
  });

  it('takes the run_record out of a task\'s input before its strict schema reads it, and records nothing without one', async () => {
    const model = await modelWithUpdates([]);
    const run = `model-${model.id}-manual-direct`;
    const context = {} as never;
    const answer = await releaseLease({ model: model.id, run, run_record: { state: 'ReleaseLeaseNothingToDo', model: model.id, run } }, context);
    expect(answer).toEqual({ released: false });
    expect(await connector.pullAggregationRun(model.id, run)).toMatchObject({ status: 'SUCCEEDED', finalState: 'NothingToAggregate', states: [expect.objectContaining({ state: 'ReleaseLeaseNothingToDo' })] });
    await releaseLease({ model: model.id, run: `${run}-2` }, context);
    expect(await connector.pullAggregationRun(model.id, `${run}-2`)).toBeNull();
    // The task's own input stays strict: any other unknown key is refused.
    await expect(releaseLease({ model: model.id, run, unknown: 1 }, context)).rejects.toMatchObject({ name: 'ValidationError' });
  });
});
