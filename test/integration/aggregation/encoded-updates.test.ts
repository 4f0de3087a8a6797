import { createHash } from 'node:crypto';
import { executeAggregationLocally, type LocalExecutionOptions } from '../../helpers/local-execution';
import { MongoMetadataConnector, type NewFederatedModel } from '../../../lib/connector';
import type { FederatedModel, ModelAggregate } from '../../../lib/entities';
import { getObjectStore } from '../../../lib/store';
import { pullShardManifest } from '../../../lib/store/weights';
import { decodeValues, encodeValues, type WeightsDtype } from '../../../lib/weights';
import { useHandlerDatabase } from '../../helpers/database';

/**
 * Issue #26: rounds whose updates arrive in every dtype (float32, float16, bfloat16, int8,
 * float64), uploaded as bytes and completed through the connector, aggregated by every strategy
 * in one task and in K = 2 and 7 shards (edges inside int8 blocks): the same bytes each time, and
 * for the mean exactly the mean of the decoded values. Runs the deployed definition through the
 * local executor on the test database and object store.
 */
describe('aggregation of encoded updates', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let runs = 0;
  const nextRun = () => `encoded-run-${++runs}`;
  beforeAll(() => {
    connector = database.connector;
  });

  const LAYERS = [1_200, 2_600, 1_200];
  const SHAPES = LAYERS.map((size) => [size]);
  const TOTAL = 5_000;
  /** One dtype per client, in this order: every encoding in every round, int8 twice. */
  const DTYPES: WeightsDtype[] = ['float32', 'float16', 'bfloat16', 'int8', 'float64', 'int8', 'float16'];
  const sharded = (k: number): LocalExecutionOptions => ({ shardLimits: { fixedShards: k, minPartBytes: 8 } });
  const single: LocalExecutionOptions = { shardLimits: { sharding: 'off' } };

  /** Deterministic values in (-1, 1), a different scale per layer (so int8 blocks differ). */
  function values(seed: number): Float64Array {
    let state = seed >>> 0;
    const next = () => {
      state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
      return state / 2 ** 31 - 1;
    };
    return Float64Array.from({ length: TOTAL }, (_, i) => next() * (i < 1_200 ? 1 : i < 3_800 ? 0.01 : 3));
  }

  /** What the client's bytes decode to, as the server reads them. */
  function decoded(bytes: Uint8Array, dtype: WeightsDtype): Float64Array {
    return Float64Array.from(decodeValues(new Uint8Array(bytes), dtype, TOTAL, new Float32Array(TOTAL)));
  }

  async function uploadUpdate(model: number, client: string, dtype: WeightsDtype, data: Float64Array, baseAggregate: number | null, numExamples: number): Promise<Uint8Array> {
    const bytes = encodeValues(data, dtype);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const upload = await connector.createModelUpdateUpload({ federatedModel: model, client, dtype, shapes: SHAPES, layout: 'layers', sha256, baseAggregate, numExamples });
    expect(upload.declared.byteSize).toBe(bytes.byteLength);
    const put = await fetch(upload.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status).toBe(200);
    const { update } = await connector.completeModelUpdateUpload(upload.id, client);
    expect(update.weights).toMatchObject({ dtype, byteSize: bytes.byteLength, length: TOTAL });
    return bytes;
  }

  interface Round {
    readonly aggregate: ModelAggregate;
    readonly values: Float64Array;
    readonly plan: { mode: string; shards: number };
    readonly sent: { bytes: Uint8Array; dtype: WeightsDtype; numExamples: number }[];
    readonly edges: number[];
  }

  async function aggregateRounds(options: Omit<NewFederatedModel, 'name' | 'clients'>, rounds: number, execution: LocalExecutionOptions): Promise<Round[]> {
    const clients = await Promise.all(DTYPES.map(async () => (await connector.createClient()).id));
    const model: FederatedModel = await connector.createFederatedModel({ name: 'encoded', clients, allowAggregation: true, furthestBaseAgg: 10, ...options });
    const done: Round[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const latest = done.at(-1)?.aggregate.id ?? null;
      const sent: Round['sent'] = [];
      for (const [i, client] of clients.entries()) {
        const numExamples = 10 + 7 * i;
        const bytes = await uploadUpdate(model.id, client, DTYPES[i]!, values(1_000 * round + i), i % 2 === 0 ? latest : null, numExamples);
        sent.push({ bytes, dtype: DTYPES[i]!, numExamples });
      }
      const run = nextRun();
      const result = await executeAggregationLocally({ model: model.id, run }, execution);
      expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });
      const aggregate = (await connector.pullLatestModelAggregate(model))!;
      const { plan } = result.output as { plan: Round['plan'] };
      const edges = plan.mode === 'sharded' ? (await pullShardManifest(getObjectStore(), model.id, run))!.shards.map((shard) => shard.start) : [];
      done.push({ aggregate, values: (await connector.pullModelAggregateWeights(aggregate))!.values, plan, sent, edges });
    }
    return done;
  }

  it('aggregates a weighted FedAvg round of every dtype to exactly the weighted mean of the decoded values', async () => {
    const [round] = await aggregateRounds({ aggregator: 'weighted_fedavg' }, 1, single);
    // Σ nᵢ xᵢ in client order, divided once: the kernel's own order, so equality is exact.
    const sum = new Float64Array(TOTAL);
    let examples = 0;
    for (const { bytes, dtype, numExamples } of round!.sent) {
      const x = decoded(bytes, dtype);
      for (let j = 0; j < TOTAL; j += 1) sum[j]! += numExamples * x[j]!;
      examples += numExamples;
    }
    const expected = sum.map((value) => value / examples);
    expect(Buffer.from(round!.values.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    // The encodings are lossy: the aggregate is not the mean of the values before encoding.
    const exact = new Float64Array(TOTAL);
    round!.sent.forEach(({ numExamples }, i) => values(i).forEach((value, j) => (exact[j]! += (numExamples * value) / examples)));
    expect(Array.from(round!.values).some((value, j) => value !== exact[j])).toBe(true);
    expect(Math.max(...round!.values.map((value, j) => Math.abs(value - exact[j]!)))).toBeLessThan(0.02);
  });

  it('takes the median of the decoded values coordinate by coordinate', async () => {
    const [round] = await aggregateRounds({ aggregator: 'coordinate_median', aggregatorParams: { block_size: 100 } }, 1, single);
    const columns = round!.sent.map(({ bytes, dtype }) => decoded(bytes, dtype));
    for (const j of [0, 63, 64, 1_199, 1_200, 2_345, 4_999]) {
      const sorted = columns.map((column) => column[j]!).sort((a, b) => a - b);
      expect(round!.values[j]).toBe(sorted[3]);
    }
  });

  const adam = { server_lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 };
  const STRATEGIES: [string, Omit<NewFederatedModel, 'name' | 'clients'>, number][] = [
    ['the mean (FMA)', { aggregator: 'avg_values_if_data' }, 1],
    ['the per-layer mean (FMA)', { aggregator: 'average_layers' }, 1],
    ['weighted FedAvg', { aggregator: 'weighted_fedavg' }, 1],
    ['FedAvg with staleness weights', { aggregator: 'weighted_fedavg', aggregatorParams: { staleness_exponent: 0.5 } }, 2],
    ['the coordinate-wise median (blocks of 700)', { aggregator: 'coordinate_median', aggregatorParams: { block_size: 700 } }, 1],
    ['the trimmed mean', { aggregator: 'trimmed_mean', aggregatorParams: { beta: 0.2 } }, 1],
    ['Krum', { aggregator: 'krum', aggregatorParams: { f: 1 } }, 1],
    ['Multi-Krum', { aggregator: 'multi_krum', aggregatorParams: { f: 1, m: 3 } }, 1],
    ['the mean of clipped deltas', { aggregator: 'avg_values_if_data', aggregatorParams: { clip_norm: 30 } }, 2],
    ['FedAvgM', { aggregator: 'fedavgm', aggregatorParams: { server_lr: 0.7, momentum: 0.9 } }, 2],
    ['FedAdam', { aggregator: 'fedadam', aggregatorParams: adam }, 2],
    ['FedYogi', { aggregator: 'fedyogi', aggregatorParams: adam }, 2],
    ['FedAdagrad', { aggregator: 'fedadagrad', aggregatorParams: { server_lr: 0.1, beta1: 0.9, tau: 0.001 } }, 2],
  ];

  it.each(STRATEGIES)('%s: K = 2 and 7 shards give the single task\'s bytes', async (_name, options, rounds) => {
    const expected = await aggregateRounds(options, rounds, single);
    expect(expected.every((round) => round.plan.mode === 'single')).toBe(true);
    for (const k of [2, 7]) {
      const actual = await aggregateRounds(options, rounds, sharded(k));
      for (const [r, round] of actual.entries()) {
        expect(round.plan).toMatchObject({ mode: 'sharded', shards: k });
        expect(Buffer.from(round.values.buffer).equals(Buffer.from(expected[r]!.values.buffer))).toBe(true);
        expect(round.aggregate.weights.sha256).toBe(expected[r]!.aggregate.weights.sha256);
        expect(round.aggregate.strategy?.optimizerState?.sha256 ?? null).toBe(expected[r]!.aggregate.strategy?.optimizerState?.sha256 ?? null);
        expect(round.aggregate.strategy?.clippedUpdates ?? null).toBe(expected[r]!.aggregate.strategy?.clippedUpdates ?? null);
      }
      // Shards of the mean cut int8 blocks: a shard's range starts inside a block of 64.
      if (k === 7 && options.aggregator === 'avg_values_if_data' && options.aggregatorParams === undefined) {
        expect(actual[0]!.edges.some((start) => start % 64 !== 0)).toBe(true);
      }
    }
  });
});
