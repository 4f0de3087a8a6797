import { createHash } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { getObjectStore } from '../../../lib/store';
import { MongoMetadataConnector } from '../../../lib/connector';
import { UpdateStatus, type FederatedModel } from '../../../lib/entities';
import { taskFunctions } from '../../../functions/aggregation/local-executor';
import { executeAggregationLocally } from '../../helpers/local-execution';
import definition from '../../../state-machines/aggregation.json';
import { useHandlerDatabase } from '../../helpers/database';

/**
 * The deployed state machine definition, executed by aws-local-stepfunctions with every Task bound
 * to its Lambda's handler, on the test database.
 */
describe('the aggregation state machine', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let runs = 0;
  const nextRun = () => `run-${++runs}`;
  beforeAll(() => {
    connector = database.connector;
  });

  async function modelWithUpdates(
    data: unknown[],
    options: Partial<Parameters<MongoMetadataConnector['createFederatedModel']>[0]> = {},
  ): Promise<{ model: FederatedModel; updates: number[]; clients: string[] }> {
    const clients = await Promise.all(data.map(async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({
      name: 'fma scenario',
      aggregator: 'avg_values_if_data',
      clients,
      allowAggregation: true,
      ...options,
    });
    const updates: number[] = [];
    for (const [i, weights] of data.entries()) {
      updates.push((await connector.createModelUpdate({ federatedModel: model.id, client: clients[i]!, data: weights })).id);
    }
    return { model, updates, clients };
  }

  it('is a valid Amazon States Language definition (the executor skips this check on each run)', () => {
    expect(() => new StateMachine(definition as never, { validationOptions: { checkArn: false } })).not.toThrow();
    const broken = structuredClone(definition) as { States: Record<string, { Next?: string }> };
    broken.States.PullModel!.Next = 'NoSuchState';
    expect(() => new StateMachine(broken as never, { validationOptions: { checkArn: false } })).toThrow();
  });

  it('binds every Task state to a Lambda declared in serverless.yml', () => {
    const functions = new Set(Object.values(taskFunctions()));
    expect(functions).toEqual(
      new Set([
        'acquireAggregationLease',
        'releaseAggregationLease',
        'checkAggregationRequirement',
        'claimAggregationUpdates',
        'aggregateUpdates',
        'completeAggregationRun',
        'failAggregationRun',
        'pullFederatedModelWId',
        'pullLatestModelAggregate',
        'planAggregation',
        'measureShard',
        'reduceShardMeasures',
        'aggregateShard',
        'completeShardedAggregation',
        'discardShardedAggregation',
        'sumSecureRound',
      ]),
    );
    expect(definition.StartAt).toBe('AcquireLease');
  });

  it('aggregates [1,2,4] and [5,2,3] into [3, 2, 3.5] and completes both updates (FMA\'s scenario)', async () => {
    const { model, updates, clients } = await modelWithUpdates([[1, 2, 4], [5, 2, 3]]);
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });

    const aggregate = await connector.pullLatestModelAggregate(model);
    expect(aggregate).toMatchObject({ parent: null, level: 0 });
    expect(await connector.pullModelAggregateResults(aggregate!)).toEqual([3, 2, 3.5]);
    const done = await connector.pullModelUpdates(updates);
    expect(done.map((u) => [u.status, u.appliedAggregate])).toEqual([
      [UpdateStatus.COMPLETE, aggregate!.id],
      [UpdateStatus.COMPLETE, aggregate!.id],
    ]);
    expect(await database.db.collection('aggregation_leases').countDocuments({ _id: model.id as never })).toBe(0);

    // The next round: updates based on the first aggregate make its child, level 1.
    const [c1, c2] = clients;
    for (const [client, data] of [[c1!, [3, 2, 3.5]], [c2!, [1, 2, 3.5]]] as const) {
      await connector.createModelUpdate({ federatedModel: model.id, client, data: [...data], baseAggregate: aggregate!.id });
    }
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'Aggregated' });
    const second = await connector.pullLatestModelAggregate(model);
    expect(second).toMatchObject({ parent: aggregate!.id, level: 1 });
    expect(await connector.pullModelAggregateResults(second!)).toEqual([2, 2, 3.5]);
  });

  it('changes nothing when the requirement is not met', async () => {
    const { model, updates } = await modelWithUpdates([[1], [2]], { requirement: 'require_x_updates', requirementArgs: [3] });
    const before = await connector.pullModelUpdates(updates);
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'NothingToAggregate' });
    expect(await connector.pullLatestModelAggregate(model)).toBeNull();
    expect(await connector.pullModelUpdates(updates)).toEqual(before);
  });

  it('sets an update whose stored bytes are corrupt or missing aside as INVALID and aggregates the rest', async () => {
    const { model, updates } = await modelWithUpdates([[1, 2], [5, 6], [3, 4]]);
    const [, corrupt, missing] = await connector.pullModelUpdates(updates);
    await getObjectStore().put(corrupt!.weights.key, new Uint8Array(3));
    await getObjectStore().delete([missing!.weights.key]);
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });
    const aggregate = await connector.pullLatestModelAggregate(model);
    expect(await connector.pullModelAggregateResults(aggregate!)).toEqual([1, 2]);
    const after = await connector.pullModelUpdates(updates);
    expect(after.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.INVALID, UpdateStatus.INVALID]);
    expect(after[1]!.statusReason).toMatch(/corrupt: 3 of 16 bytes/);
    expect(after[2]!.statusReason).toMatch(/missing/);
    expect(after[1]!.appliedAggregate).toBeNull();
  });

  it.each([
    ['avg_values_if_data', [2, 3]],
    ['coordinate_median', [2, 3]],
  ])(
    'sets aside an update whose stored bytes turned NaN or changed after they were checked, and aggregates the honest ones (%s; issue #24)',
    async (aggregator, expected) => {
      const { model, updates } = await modelWithUpdates([[1, 2], [5, 6], [3, 4], [5, 6]], { aggregator });
      const [, swapped, , poisoned] = await connector.pullModelUpdates(updates);
      // The same size, other bytes: finite ones that are not the ones stored; and NaN whose hash
      // the document was made to agree with (written around the checks, as by an older version).
      await getObjectStore().put(swapped!.weights.key, new Uint8Array(new Float64Array([9, 9]).buffer));
      const nan = new Uint8Array(new Float64Array([Number.NaN, 1]).buffer);
      await getObjectStore().put(poisoned!.weights.key, nan);
      await database.db
        .collection('model_updates')
        .updateOne({ _id: poisoned!.id as never }, { $set: { 'weights.sha256': createHash('sha256').update(nan).digest('hex') } });
      const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
      expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });
      const aggregate = await connector.pullLatestModelAggregate(model);
      expect(await connector.pullModelAggregateResults(aggregate!)).toEqual(expected);
      const after = await connector.pullModelUpdates(updates);
      expect(after.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.INVALID, UpdateStatus.COMPLETE, UpdateStatus.INVALID]);
      expect(after[1]!.statusReason).toMatch(/SHA-256/);
      expect(after[3]!.statusReason).toMatch(/NaN or infinite/);
    },
  );

  it('fails before claiming when the model\'s requirement is unknown (FMA skipped the check)', async () => {
    const { model, updates } = await modelWithUpdates([[1]]);
    // Written around the connector's own check, as data from an older version could be.
    await database.db
      .collection('federated_models')
      .updateOne({ _id: model.id as never }, { $set: { requirement: 'most_clients' } });
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(result).toMatchObject({ status: 'FAILED', finalState: 'AggregationFailed' });
    const [update] = await connector.pullModelUpdates(updates);
    expect(update!.status).toBe(UpdateStatus.PENDING);
    expect(await database.db.collection('aggregation_leases').countDocuments({ _id: model.id as never })).toBe(0);
  });

  it('fails before claiming when the model\'s aggregator is unknown (data written directly or migrated)', async () => {
    const { model, updates } = await modelWithUpdates([[1]]);
    await database.db.collection('federated_models').updateOne({ _id: model.id as never }, { $set: { aggregator: 'median' } });
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(result).toMatchObject({ status: 'FAILED', finalState: 'AggregationFailed' });
    const [update] = await connector.pullModelUpdates(updates);
    expect(update!.status).toBe(UpdateStatus.PENDING);
    expect(update!.claimedBy).toBeNull();
    expect(await database.db.collection('aggregation_leases').countDocuments({ _id: model.id as never })).toBe(0);
  });

  it('stops quietly for a model that does not exist', async () => {
    expect(await executeAggregationLocally({ model: 987_654, run: nextRun() })).toMatchObject({
      status: 'SUCCEEDED',
      finalState: 'ModelNotFound',
    });
  });

  it('yields exactly one aggregate when two executions start at once for one model', async () => {
    const { model, updates } = await modelWithUpdates([[1, 1], [3, 3], [5, 5]]);
    const results = await Promise.all([
      executeAggregationLocally({ model: model.id, run: nextRun() }),
      executeAggregationLocally({ model: model.id, run: nextRun() }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(results.map((r) => r.finalState).sort()).toEqual(['Aggregated', 'AnotherRunHoldsTheLease']);
    const aggregates = await database.db.collection('model_aggregates').find({ federatedModel: model.id }).toArray();
    expect(aggregates).toHaveLength(1);
    const done = await connector.pullModelUpdates(updates);
    expect(done.map((u) => [u.status, u.appliedAggregate])).toEqual(
      updates.map(() => [UpdateStatus.COMPLETE, aggregates[0]!._id]),
    );
    expect(await connector.pullModelAggregateResults(aggregates[0]!._id as unknown as number)).toEqual([3, 3]);
  });

  it('recovers a run that died after its claim: after its lease expires the next run aggregates its updates once', async () => {
    const { model, updates } = await modelWithUpdates([[2], [4]]);
    const dead = nextRun();
    const crashed = await executeAggregationLocally({ model: model.id, run: dead }, { haltAfter: 'ClaimUpdates' });
    expect(crashed).toMatchObject({ status: 'HALTED', finalState: 'ClaimUpdates' });
    expect((await connector.pullModelUpdates(updates)).map((u) => [u.status, u.claimedBy])).toEqual([
      [UpdateStatus.RUNNING, dead],
      [UpdateStatus.RUNNING, dead],
    ]);

    // While the dead run's lease lasts, nobody else may run the model.
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({
      finalState: 'AnotherRunHoldsTheLease',
    });
    // Let the lease expire (as time would), then run again.
    await database.db
      .collection('aggregation_leases')
      .updateOne({ _id: model.id as never }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
    const recovery = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(recovery).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });

    const aggregates = await database.db.collection('model_aggregates').find({ federatedModel: model.id }).toArray();
    expect(aggregates).toHaveLength(1);
    expect(await connector.pullModelAggregateResults(aggregates[0]!._id as unknown as number)).toEqual([3]);
    const done = await connector.pullModelUpdates(updates);
    expect(done.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.COMPLETE]);
    expect(done[0]!.statusHistory.map((change) => change.status)).toEqual([
      UpdateStatus.PENDING,
      UpdateStatus.RUNNING,
      UpdateStatus.FAILED,
      UpdateStatus.RUNNING,
      UpdateStatus.COMPLETE,
    ]);
  });
});
