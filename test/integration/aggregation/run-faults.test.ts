import { createHash } from 'node:crypto';
import { getObjectStore } from '../../../lib/store';
import { MongoMetadataConnector } from '../../../lib/connector';
import { UpdateStatus } from '../../../lib/entities';
import { executeAggregationLocally, type LocalExecutionOptions } from '../../helpers/local-execution';
import { useHandlerDatabase } from '../../helpers/database';

/**
 * Faults at every step of a run after its aggregate is written, crashes, and failures that will
 * not go away (issue #13). Each case checks the end state against the invariant: every accepted
 * update is in exactly one aggregate, or claimable again, or INVALID with a reason; no aggregate
 * is duplicated; no lease is held forever.
 */
describe('aggregation runs under faults', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let runs = 0;
  const nextRun = () => `fault-run-${++runs}`;
  beforeAll(() => {
    connector = database.connector;
  });

  async function modelWithUpdates(data: number[][]) {
    const clients = await Promise.all(data.map(async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'faults', aggregator: 'avg_values_if_data', clients });
    const updates: number[] = [];
    for (const [i, values] of data.entries()) {
      updates.push((await connector.createModelUpdate({ federatedModel: model.id, client: clients[i]!, data: values })).id);
    }
    return { model, updates };
  }

  /** Lets a lease left behind expire, as time would. */
  const expireLease = (model: number) =>
    database.db.collection('aggregation_leases').updateOne({ _id: model as never }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });

  /** Every update in the model's one aggregate, complete; one aggregate; the mean right; no lease. */
  async function expectAggregatedOnce(model: number, updates: number[], mean: number[]) {
    const aggregates = await database.db.collection('model_aggregates').find({ federatedModel: model }).toArray();
    expect(aggregates).toHaveLength(1);
    const aggregate = aggregates[0]!._id as unknown as number;
    expect(await connector.pullModelAggregateResults(aggregate)).toEqual(mean);
    const done = await connector.pullModelUpdates(updates);
    expect(done.map((u) => [u.status, u.appliedAggregate])).toEqual(updates.map(() => [UpdateStatus.COMPLETE, aggregate]));
    // Nothing is left to claim: a further run finds nothing to do.
    expect(await executeAggregationLocally({ model, run: nextRun() })).toMatchObject({ finalState: 'NothingToAggregate' });
    expect(await database.db.collection('model_aggregates').countDocuments({ federatedModel: model })).toBe(1);
    expect(await database.db.collection('aggregation_leases').countDocuments({ _id: model as never })).toBe(0);
  }

  const faults: [string, LocalExecutionOptions][] = [
    ['the aggregation task answers nothing after writing the aggregate', { failAfter: ['AggregateUpdates'] }],
    ['CompleteRun fails before it runs', { failBefore: ['CompleteRun'] }],
    ['CompleteRun fails after it ran', { failAfter: ['CompleteRun'] }],
    ['CompleteRun and then FailRun fail', { failBefore: ['CompleteRun', 'FailRun'] }],
    ['ReleaseLease fails', { failBefore: ['ReleaseLease'] }],
    ['the run crashes after the aggregate is written', { haltAfter: 'AggregateUpdates' }],
    ['the run crashes after CompleteRun', { haltAfter: 'CompleteRun' }],
  ];

  it.each(faults)('never counts an update twice when %s: the aggregate stands and its updates complete', async (_, fault) => {
    const { model, updates } = await modelWithUpdates([[1, 2], [3, 4], [5, 9]]);
    await executeAggregationLocally({ model: model.id, run: nextRun() }, fault);
    // Whatever the run left behind is settled by the next run, once the lease has expired.
    await expireLease(model.id);
    const next = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(['NothingToAggregate', 'Aggregated']).toContain(next.finalState);
    await expectAggregatedOnce(model.id, updates, [3, 5]);
  });

  it.each(['AcquireLease', 'CheckRequirement', 'ClaimUpdates', 'AggregateUpdates', 'CompleteRun', 'ReleaseLease', 'FailRun'])(
    'loses nothing and counts nothing twice when the database connection drops in the middle of %s',
    async (state) => {
      const { model, updates } = await modelWithUpdates([[2, 2], [4, 8]]);
      // FailRun runs only after a failure: make AggregateUpdates fail for it to run at all.
      const fault: LocalExecutionOptions = state === 'FailRun' ? { dropConnectionIn: [state], failAfter: ['AggregateUpdates'] } : { dropConnectionIn: [state] };
      const first = await executeAggregationLocally({ model: model.id, run: nextRun() }, fault);
      // A dropped connection is a DependencyError, retried with a new connection; the run ends
      // either way, and whatever it left is settled by the next one.
      expect({ state: first.finalState, error: first.error }).toEqual({ state: expect.stringMatching(/^(Aggregated|AggregationFailed|NothingToAggregate)$/), error: first.error });
      await expireLease(model.id);
      await executeAggregationLocally({ model: model.id, run: nextRun() });
      await expectAggregatedOnce(model.id, updates, [3, 5]);
    },
  );

  it('gives up on a round that fails every time: FAILED with one more attempt each run, INVALID with the reason after 3', async () => {
    const { model, updates } = await modelWithUpdates([[1, 2], [3, 4]]);
    // Values the door refuses, written around it: their mean overflows, so every run fails.
    // The documents agree with the bytes (their SHA-256), or the run would set them aside instead.
    const huge = new Uint8Array(new Float64Array([1.7e308, 1.7e308]).buffer);
    for (const update of await connector.pullModelUpdates(updates)) {
      await getObjectStore().put(update.weights.key, huge);
      await database.db
        .collection('model_updates')
        .updateOne({ _id: update.id as never }, { $set: { 'weights.sha256': createHash('sha256').update(huge).digest('hex') } });
    }
    for (const attempt of [1, 2]) {
      expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'AggregationFailed' });
      const failed = await database.db.collection('model_updates').find({ _id: { $in: updates } as never }).toArray();
      expect(failed.map((u) => [u.status, u.failedAttempts])).toEqual(updates.map(() => [UpdateStatus.FAILED, attempt]));
    }
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'AggregationFailed' });
    const given = await connector.pullModelUpdates(updates);
    expect(given.map((u) => u.status)).toEqual([UpdateStatus.INVALID, UpdateStatus.INVALID]);
    expect(given[0]!.statusReason).toBe('gave up after 3 failed aggregation attempts; the last: AggregationError');
    // The schedule's next run finds nothing to claim, instead of failing again every minute.
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'NothingToAggregate' });
    expect(await database.db.collection('model_aggregates').countDocuments({ federatedModel: model.id })).toBe(0);
  });

  it('holds a short lease (about AGGREGATION_LEASE_SECONDS, 60 s) that each task renews, so a dead run blocks its model only briefly', async () => {
    const { model, updates } = await modelWithUpdates([[2], [4]]);
    const before = Date.now();
    await executeAggregationLocally({ model: model.id, run: nextRun() }, { haltAfter: 'ClaimUpdates' });
    const lease = await database.db.collection('aggregation_leases').findOne({ _id: model.id as never });
    const left = lease!.expiresAt.getTime() - before;
    expect(left).toBeGreaterThan(55_000);
    expect(left).toBeLessThanOrEqual(61_000 + (Date.now() - before));
    await expireLease(model.id);
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'Aggregated' });
    const done = await connector.pullModelUpdates(updates);
    expect(done.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.COMPLETE]);
  });

  it('carries counts, not update ids, in its state: the output has the same size for 3 updates and for 60', async () => {
    const sizes: number[] = [];
    for (const n of [3, 60]) {
      const { model } = await modelWithUpdates(Array.from({ length: n }, (_, i) => [i]));
      const result = await executeAggregationLocally({ model: model.id, run: `state-size-${n}` });
      expect(result).toMatchObject({ finalState: 'Aggregated', output: { claim: { claimed: n }, aggregate: { model_updates: n } } });
      const state = JSON.stringify(result.output);
      expect(state).not.toMatch(/\[\s*\d+\s*,\s*\d+/);
      sizes.push(state.replace(/\d+/g, '0').length);
    }
    expect(sizes[1]).toBe(sizes[0]);
  });
});
