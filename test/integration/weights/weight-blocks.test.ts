import { MongoMetadataConnector } from '../../../lib/connector';
import { defaultBlockValues, BLOCK_BUFFER_BUDGET_BYTES } from '../../../lib/aggregation/block-size';
import type { ByteRange, ObjectStore } from '../../../lib/store';
import { putOptimizerState, readOptimizerState, streamWeightBlocks } from '../../../lib/store/weights';
import { useTestDatabase } from '../../helpers/database';
import { useTestObjectStore } from '../../helpers/object-store';

/**
 * What the strategies read and write in the real object store: blocks of many updates by ranged
 * GETs, and optimizer state under fresh keys, removed with its model.
 */
describe('strategy weights in the object store', () => {
  const database = useTestDatabase();
  const objects = useTestObjectStore();
  const reads: { key: string; bytes: number; range?: ByteRange }[] = [];
  let connector: MongoMetadataConnector;
  let recording: ObjectStore;

  beforeAll(async () => {
    // The real store, with each read recorded on its way through.
    recording = Object.create(objects.store, {
      readInto: {
        value: (key: string, target: Uint8Array, range?: ByteRange) => {
          reads.push({ key, bytes: target.byteLength, ...(range === undefined ? {} : { range }) });
          return objects.store.readInto(key, target, range);
        },
      },
    });
    connector = new MongoMetadataConnector(database.db, { store: recording });
    await connector.updateDatabase();
  });

  it('hands every block of every update to the visitor, reading each with one ranged GET of at most block × 8 bytes', async () => {
    const clients = await Promise.all([0, 1, 2].map(async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'blocks', aggregator: 'coordinate_median', clients });
    const rows = [0, 1, 2].map((i) => Array.from({ length: 10 }, (_, j) => i * 100 + j));
    const updates = [];
    for (const [i, data] of rows.entries()) updates.push(await connector.createModelUpdate({ federatedModel: model.id, client: clients[i]!, data }));
    reads.length = 0;
    const seen: number[][] = [[], [], []];
    const blocks: [number, number][] = [];
    await streamWeightBlocks(recording, updates.map((update) => update.weights), 4, (start, length, columns) => {
      blocks.push([start, length]);
      columns.forEach((column, i) => seen[i]!.push(...column));
    });
    expect(blocks).toEqual([[0, 4], [4, 4], [8, 2]]);
    expect(seen).toEqual(rows);
    expect(reads).toHaveLength(9);
    for (const read of reads) {
      expect(read.range).toBeDefined();
      expect(read.range!.end - read.range!.start + 1).toBeLessThanOrEqual(4 * 8);
      expect(read.bytes).toBeLessThanOrEqual(4 * 8);
    }
  });

  it('refuses an update whose stored bytes are shorter than its reference says', async () => {
    const clients = await Promise.all([0, 1].map(async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'short', aggregator: 'coordinate_median', clients });
    const a = await connector.createModelUpdate({ federatedModel: model.id, client: clients[0]!, data: [1, 2, 3, 4] });
    const b = await connector.createModelUpdate({ federatedModel: model.id, client: clients[1]!, data: [5, 6, 7, 8] });
    await objects.store.put(b.weights.key, new Uint8Array(20));
    await expect(streamWeightBlocks(recording, [a.weights, b.weights], 3, () => undefined)).rejects.toThrow();
  });

  it('stores optimizer state under a fresh key each time, reads it back, and refuses it corrupted', async () => {
    const state = { m: Float64Array.of(1, 2, 3), v: Float64Array.of(4, 5, 6) };
    const first = await putOptimizerState(recording, 7, 'fedadam', state);
    const second = await putOptimizerState(recording, 7, 'fedadam', state);
    expect(first.key).toMatch(/^optimizer-state\/7\/[0-9a-f-]{36}$/);
    expect(second.key).not.toBe(first.key);
    expect(first).toMatchObject({ optimizer: 'fedadam', components: ['m', 'v'], length: 3, byteSize: 48 });
    const back = await readOptimizerState(recording, first);
    expect([...back.m]).toEqual([1, 2, 3]);
    expect([...back.v!]).toEqual([4, 5, 6]);
    const momentum = await putOptimizerState(recording, 7, 'fedavgm', { m: Float64Array.of(9), v: null });
    expect(await readOptimizerState(recording, momentum)).toEqual({ m: Float64Array.of(9), v: null });
    await objects.store.put(first.key, new Uint8Array(48));
    await expect(readOptimizerState(recording, first)).rejects.toThrow(/corrupt/);
  });

  it('deletes a model\'s optimizer state with the model', async () => {
    const clients = await Promise.all([0, 1].map(async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({
      name: 'deleted',
      aggregator: 'fedavgm',
      aggregatorParams: { server_lr: 1, momentum: 0.5 },
      clients,
    });
    const state = await putOptimizerState(recording, model.id, 'fedavgm', { m: Float64Array.of(1, 2), v: null });
    await connector.postNewModelAggregateWeights(model, null, { layout: 'vector', shapes: [[2]], values: Float64Array.of(1, 2) }, {
      strategy: {
        aggregator: 'fedavgm',
        params: { server_lr: 1, momentum: 0.5 },
        numUpdates: 2,
        selectedUpdates: null,
        clipNorm: null,
        clippedUpdates: null,
        noiseMultiplier: null,
        noiseStd: null,
        stalenessExponent: null,
        optimizerState: state,
      },
    });
    expect(await objects.store.head(state.key)).not.toBeNull();
    const deleted = await connector.deleteFederatedModel(model);
    expect(deleted.objects).toBe(2);
    expect(await objects.store.head(state.key)).toBeNull();
  });

  it('sizes default blocks to the buffer budget, within bounds', () => {
    expect(defaultBlockValues(100) * 100 * 8).toBeLessThanOrEqual(BLOCK_BUFFER_BUDGET_BYTES);
    expect(defaultBlockValues(100)).toBe(335_544);
    expect(defaultBlockValues(1)).toBe(4 * 1024 * 1024);
    expect(defaultBlockValues(10_000_000)).toBe(256);
  });
});
