import { executeAggregationLocally, type LocalExecutionOptions } from '../../helpers/local-execution';
import { aggregateShard } from '../../../lib/aggregation/sharded-aggregation';
import { MongoMetadataConnector, type NewFederatedModel } from '../../../lib/connector';
import { UpdateStatus, type FederatedModel, type ModelAggregate } from '../../../lib/entities';
import { getObjectStore, ObjectNotFoundError } from '../../../lib/store';
import { useHandlerDatabase } from '../../helpers/database';
import { pullShardManifest } from '../../../lib/store/weights';

/**
 * Issue #14: a round aggregated by a Map of shards equals the single task's, bit for bit, for
 * every strategy, with K = 1, 2 and 7 and shard edges inside layers; and a sharded run that fails
 * leaves nothing behind but its updates back in the pool. Runs the deployed definition through the
 * local executor (the Distributed Maps as inline Maps), on the test database and object store.
 */
describe('sharded aggregation', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let runs = 0;
  const nextRun = () => `sharded-run-${++runs}`;
  beforeAll(() => {
    connector = database.connector;
  });

  /** Three layers of 1,200, 2,600 and 1,200 values: every K of 2 or 7 puts an edge inside a layer. */
  const LAYERS = [1_200, 2_600, 1_200];
  const LAYER_EDGES = [0, 1_200, 3_800, 5_000];
  const CLIENTS = 7;
  // The local store takes parts under S3's 5 MiB; the plan still puts every edge where it would.
  const sharded = (k: number): LocalExecutionOptions => ({ shardLimits: { fixedShards: k, minPartBytes: 8 } });
  const single: LocalExecutionOptions = { shardLimits: { sharding: 'off' } };

  /** Deterministic values in (-1, 1): the same for the single and the sharded model. */
  function layers(seed: number): number[][] {
    let state = seed >>> 0;
    const next = () => {
      state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
      return state / 2 ** 31 - 1;
    };
    return LAYERS.map((size) => Array.from({ length: size }, () => next()));
  }

  interface Round {
    readonly aggregate: ModelAggregate;
    readonly values: Float64Array;
    readonly plan: { mode: string; shards: number; passes: number };
  }

  /** A new model, `rounds` rounds of 7 updates each (later rounds trained from the latest aggregate). */
  async function aggregateRounds(options: Omit<NewFederatedModel, 'name' | 'clients'>, rounds: number, execution: LocalExecutionOptions): Promise<Round[]> {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, async () => (await connector.createClient()).id));
    const model: FederatedModel = await connector.createFederatedModel({ name: 'sharded', clients, allowAggregation: true, furthestBaseAgg: 10, ...options });
    const done: Round[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const latest = done.at(-1)?.aggregate.id ?? null;
      for (const [i, client] of clients.entries()) {
        await connector.createModelUpdate({
          federatedModel: model.id,
          client,
          data: layers(1_000 * round + i),
          // Staleness: some updates trained from the latest aggregate, some from none.
          baseAggregate: i % 2 === 0 ? latest : null,
          numExamples: 10 + 7 * i,
        });
      }
      const run = nextRun();
      const result = await executeAggregationLocally({ model: model.id, run }, execution);
      expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });
      const aggregate = (await connector.pullLatestModelAggregate(model))!;
      const { plan } = result.output as { plan: Round['plan'] };
      if (plan.mode === 'sharded') {
        const manifest = (await pullShardManifest(getObjectStore(), model.id, run))!;
        expect(manifest.shards).toHaveLength(plan.shards);
        if (plan.shards > 1) expect(manifest.shards.some((shard) => !LAYER_EDGES.includes(shard.start))).toBe(true);
      }
      done.push({ aggregate, values: (await connector.pullModelAggregateWeights(aggregate))!.values, plan });
    }
    return done;
  }

  const adam = { server_lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 };
  const STRATEGIES: [string, Omit<NewFederatedModel, 'name' | 'clients'>, number][] = [
    ['the mean (FMA)', { aggregator: 'avg_values_if_data' }, 1],
    ['the per-layer mean (FMA)', { aggregator: 'average_layers' }, 1],
    ['weighted FedAvg', { aggregator: 'weighted_fedavg' }, 1],
    ['FedAvg with staleness weights', { aggregator: 'weighted_fedavg', aggregatorParams: { staleness_exponent: 0.5 } }, 2],
    ['the coordinate-wise median', { aggregator: 'coordinate_median', aggregatorParams: { block_size: 700 } }, 1],
    ['the trimmed mean', { aggregator: 'trimmed_mean', aggregatorParams: { beta: 0.2 } }, 1],
    ['Krum', { aggregator: 'krum', aggregatorParams: { f: 1 } }, 1],
    ['Multi-Krum (blocks of 3 rounded to tiles)', { aggregator: 'multi_krum', aggregatorParams: { f: 1, m: 3, block_size: 3 } }, 1],
    ['the mean of clipped deltas', { aggregator: 'avg_values_if_data', aggregatorParams: { clip_norm: 30 } }, 2],
    ['FedAvgM', { aggregator: 'fedavgm', aggregatorParams: { server_lr: 0.7, momentum: 0.9 } }, 3],
    ['FedAdam', { aggregator: 'fedadam', aggregatorParams: adam }, 3],
    ['FedYogi', { aggregator: 'fedyogi', aggregatorParams: adam }, 3],
    ['FedAdagrad', { aggregator: 'fedadagrad', aggregatorParams: { server_lr: 0.1, beta1: 0.9, tau: 0.001 } }, 3],
    ['FedAdam on clipped deltas', { aggregator: 'fedadam', aggregatorParams: { ...adam, clip_norm: 30 } }, 3],
  ];

  it.each(STRATEGIES)('%s: with K = 1, 2 and 7 equals the single task bit for bit, optimizer state included', async (_name, options, rounds) => {
    const expected = await aggregateRounds(options, rounds, single);
    expect(expected.every((round) => round.plan.mode === 'single')).toBe(true);
    for (const k of [1, 2, 7]) {
      const actual = await aggregateRounds(options, rounds, sharded(k));
      for (const [r, round] of actual.entries()) {
        expect(round.plan).toMatchObject({ mode: 'sharded', shards: k });
        expect(Buffer.from(round.values.buffer).equals(Buffer.from(expected[r]!.values.buffer))).toBe(true);
        expect(round.aggregate.weights.sha256).toBe(expected[r]!.aggregate.weights.sha256);
        expect(round.aggregate.weights).toMatchObject({ layout: 'layers', shapes: LAYERS.map((size) => [size]), length: 5_000 });
        // The record agrees too: selection (as positions in the round), clipping counts, staleness, the optimizer's state bytes.
        const { strategy } = round.aggregate;
        const reference = expected[r]!.aggregate.strategy;
        expect(strategy === undefined).toBe(reference === undefined);
        if (strategy === undefined || reference === undefined) continue;
        expect({ ...strategy, selectedUpdates: null, optimizerState: null }).toEqual({ ...reference, selectedUpdates: null, optimizerState: null });
        expect(strategy.selectedUpdates?.length ?? null).toBe(reference.selectedUpdates?.length ?? null);
        expect(strategy.optimizerState?.sha256 ?? null).toBe(reference.optimizerState?.sha256 ?? null);
        // The cases exercise what they name: some deltas are clipped; an optimizer resumes its state.
        if (reference.clipNorm !== null && r > 0) expect(reference.clippedUpdates).toBeGreaterThan(0);
        if (r === 2 && options.aggregator.startsWith('fed')) expect(reference.optimizerState).not.toBeNull();
      }
    }
  });

  it('records the same Krum selection (by client) as the single task', async () => {
    const options = { aggregator: 'multi_krum', aggregatorParams: { f: 1, m: 3 } };
    const [expected] = await aggregateRounds(options, 1, single);
    const [actual] = await aggregateRounds(options, 1, sharded(7));
    const clientsOf = async (ids: number[]) => (await connector.pullModelUpdates(ids)).map((update) => update.numExamples);
    expect(await clientsOf(actual!.aggregate.strategy!.selectedUpdates!)).toEqual(await clientsOf(expected!.aggregate.strategy!.selectedUpdates!));
  });

  it('retries a shard that failed once (the Map\'s retry policy) and still gets the single task\'s answer', async () => {
    const [expected] = await aggregateRounds({ aggregator: 'weighted_fedavg' }, 1, single);
    const [actual] = await aggregateRounds({ aggregator: 'weighted_fedavg' }, 1, { ...sharded(2), transientFailures: { AggregateShard: 1 } });
    expect(actual!.aggregate.weights.sha256).toBe(expected!.aggregate.weights.sha256);
  });

  it('fails the run when a shard keeps failing: updates back in the pool, upload aborted, no aggregate', async () => {
    const clients = await Promise.all(Array.from({ length: 3 }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'sharded failure', clients, aggregator: 'avg_values_if_data', allowAggregation: true });
    const updates = [];
    for (const [i, client] of clients.entries()) updates.push((await connector.createModelUpdate({ federatedModel: model.id, client, data: layers(i) })).id);
    const run = nextRun();
    const result = await executeAggregationLocally({ model: model.id, run }, { ...sharded(2), failBefore: ['AggregateShard'] });
    expect(result).toMatchObject({ status: 'FAILED', finalState: 'AggregationFailed' });
    expect(await connector.pullLatestModelAggregate(model)).toBeNull();
    const after = await database.db.collection('model_updates').find({ _id: { $in: updates as never[] } }).sort({ _id: 1 }).toArray();
    expect(after.map((update) => [update.status, update.failedAttempts])).toEqual(updates.map(() => [UpdateStatus.FAILED, 1]));
    const manifest = (await pullShardManifest(getObjectStore(), model.id, run))!;
    await expect(getObjectStore().listParts(manifest.aggregate.key, manifest.aggregate.uploadId)).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await getObjectStore().head(manifest.aggregate.key)).toBeNull();
    expect(await database.db.collection('aggregation_leases').countDocuments({ _id: model.id as never })).toBe(0);
    // The next run aggregates them (sharded again), as after any failed run.
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() }, sharded(2))).toMatchObject({ finalState: 'Aggregated' });
    expect((await connector.pullModelUpdates(updates)).every((update) => update.status === UpdateStatus.COMPLETE)).toBe(true);
  });

  it('keeps the aggregate when the completion\'s answer was lost: nothing aborted, the updates complete', async () => {
    const clients = await Promise.all(Array.from({ length: 3 }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'sharded lost answer', clients, aggregator: 'avg_values_if_data', allowAggregation: true });
    const updates = [];
    for (const [i, client] of clients.entries()) updates.push((await connector.createModelUpdate({ federatedModel: model.id, client, data: layers(i) })).id);
    const run = nextRun();
    const result = await executeAggregationLocally({ model: model.id, run }, { ...sharded(2), failAfter: ['CompleteShardedAggregation'] });
    expect(result).toMatchObject({ status: 'FAILED', finalState: 'AggregationFailed' });
    const aggregate = (await connector.pullLatestModelAggregate(model))!;
    expect(aggregate).not.toBeNull();
    expect((await connector.pullModelUpdates(updates)).map((update) => [update.status, update.appliedAggregate])).toEqual(
      updates.map(() => [UpdateStatus.COMPLETE, aggregate.id]),
    );
    // The object is whole and is the one the document names.
    expect(await getObjectStore().head(aggregate.weights.key)).toEqual({ size: 5_000 * 8 });
  });

  it('sets aside an update whose bytes are gone before sharding, and aggregates the rest', async () => {
    const clients = await Promise.all(Array.from({ length: 3 }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'sharded set-aside', clients, aggregator: 'avg_values_if_data', allowAggregation: true });
    const updates = [];
    for (const [i, client] of clients.entries()) updates.push((await connector.createModelUpdate({ federatedModel: model.id, client, data: layers(i) })).id);
    const [, missing] = await connector.pullModelUpdates(updates);
    await getObjectStore().delete([missing!.weights.key]);
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() }, sharded(2));
    expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated', output: { plan: { mode: 'sharded', invalid: 1, model_updates: 2 } } });
    const after = await connector.pullModelUpdates(updates);
    expect(after.map((update) => update.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.INVALID, UpdateStatus.COMPLETE]);
    expect(after[1]!.statusReason).toMatch(/missing/);
    const values = (await connector.pullModelAggregateWeights((await connector.pullLatestModelAggregate(model))!))!.values;
    const [a, , c] = [layers(0).flat(), null, layers(2).flat()];
    expect(values[4_321]).toBe((a[4_321]! + c[4_321]!) / 2);
  });

  it('refuses to compute a shard for a run that lost its lease (no part is uploaded)', async () => {
    const clients = await Promise.all(Array.from({ length: 2 }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'sharded lease', clients, aggregator: 'avg_values_if_data', allowAggregation: true });
    for (const [i, client] of clients.entries()) await connector.createModelUpdate({ federatedModel: model.id, client, data: layers(i) });
    const run = nextRun();
    expect(await executeAggregationLocally({ model: model.id, run }, { ...sharded(2), haltAfter: 'PlanAggregation' })).toMatchObject({ status: 'HALTED' });
    const manifest = (await pullShardManifest(getObjectStore(), model.id, run))!;
    await database.db.collection('aggregation_leases').deleteOne({ _id: model.id as never });
    await expect(aggregateShard(connector, { model: model.id, run, shard: 0, leaseSeconds: 60 })).rejects.toMatchObject({ name: 'ConflictError' });
    expect(await getObjectStore().listParts(manifest.aggregate.key, manifest.aggregate.uploadId)).toEqual([]);
  });
});
