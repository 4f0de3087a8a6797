import { createHash } from 'node:crypto';
import { executeAggregationLocally } from '../../../functions/aggregation/local-executor';
import { MongoMetadataConnector } from '../../../lib/connector';
import { UpdateStatus, type FederatedModel } from '../../../lib/entities';
import { ValidationError } from '../../../lib/errors';
import { getObjectStore } from '../../../lib/store';
import { presignWeightsDownload } from '../../../lib/store/weights';
import { float64Bytes } from '../../../lib/weights';
import { useHandlerDatabase } from '../../helpers/database';

/**
 * Weights live in the object store, not in the documents: JSON and binary updates, presigned
 * uploads and downloads, the checks an upload passes before it becomes an update, and the shape
 * check at the door. On the real local database and object store.
 */
describe('weights in the object store', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let runs = 0;
  const nextRun = () => `weights-run-${++runs}`;
  beforeAll(() => {
    connector = database.connector;
  });

  async function newModel(clients: number): Promise<{ model: FederatedModel; clients: string[] }> {
    const ids = await Promise.all(Array.from({ length: clients }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'weights', aggregator: 'avg_values_if_data', clients: ids });
    return { model, clients: ids };
  }

  function sha256(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  /** A client's binary upload, as the SDK does it: declare, PUT to the presigned URL, complete. */
  async function uploadBinary(
    model: number,
    client: string,
    values: Float32Array | Float64Array,
    options: { bytes?: Uint8Array; shapes?: number[][]; declaredSha256?: string } = {},
  ) {
    const bytes = options.bytes ?? new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const upload = await connector.createModelUpdateUpload({
      federatedModel: model,
      client,
      dtype: values instanceof Float32Array ? 'float32' : 'float64',
      shapes: options.shapes ?? [[values.length]],
      sha256: options.declaredSha256 ?? sha256(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)),
    });
    const put = await fetch(upload.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status).toBe(200);
    return upload;
  }

  async function download(url: string): Promise<Uint8Array> {
    const reply = await fetch(url);
    expect(reply.status).toBe(200);
    return new Uint8Array(await reply.arrayBuffer());
  }

  it('gives the same aggregate, bit for bit, from a JSON round and from a binary round', async () => {
    const rounds = [
      [0.1, 2.5, -3],
      [1e-300, 7, 0.3],
      [4.25, -1, 1 / 3],
    ];
    const json = await newModel(3);
    for (const [i, data] of rounds.entries()) {
      await connector.createModelUpdate({ federatedModel: json.model.id, client: json.clients[i]!, data });
    }
    const binary = await newModel(3);
    for (const [i, data] of rounds.entries()) {
      const upload = await uploadBinary(binary.model.id, binary.clients[i]!, Float64Array.from(data));
      const { update, created } = await connector.completeModelUpdateUpload(upload.id, binary.clients[i]!);
      expect(created).toBe(true);
      expect(update.status).toBe(UpdateStatus.PENDING);
    }
    for (const { model } of [json, binary]) {
      expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'Aggregated' });
    }
    const [fromJson, fromBinary] = await Promise.all([json, binary].map(({ model }) => connector.pullLatestModelAggregate(model)));
    expect(fromBinary!.weights.sha256).toBe(fromJson!.weights.sha256);

    // Read back through a presigned GET: the bytes and SHA-256 are what was computed.
    const expected = Float64Array.from([0, 1, 2].map((j) => (rounds[0]![j]! + rounds[1]![j]! + rounds[2]![j]!) / 3));
    const bytes = await download((await presignWeightsDownload(getObjectStore(), fromBinary!.weights)).url);
    expect(bytes).toEqual(float64Bytes(expected).bytes);
    expect(sha256(bytes)).toBe(fromBinary!.weights.sha256);
    expect(fromBinary!.weights).toMatchObject({ dtype: 'float64', length: 3, byteSize: 24 });
  });

  it('takes a 20 M-parameter update, which no 16 MiB document could hold, and aggregates it', async () => {
    const { model, clients } = await newModel(1);
    const values = new Float32Array(20_000_000);
    for (let i = 0; i < values.length; i += 1) values[i] = (i % 1000) / 8;
    const upload = await uploadBinary(model.id, clients[0]!, values, { shapes: [[5_000, 4_000]] });
    expect(upload.declared.byteSize).toBe(80_000_000);
    const { update } = await connector.completeModelUpdateUpload(upload.id, clients[0]!);
    expect(update.weights).toMatchObject({ dtype: 'float32', layout: 'layers', shapes: [[5_000, 4_000]], length: 20_000_000, byteSize: 80_000_000 });
    const stored = await database.db.collection('model_updates').findOne({ _id: update.id as never });
    expect(JSON.stringify(stored).length).toBeLessThan(2_000);

    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'Aggregated' });
    const aggregate = await connector.pullLatestModelAggregate(model);
    expect(aggregate!.weights).toMatchObject({ dtype: 'float64', length: 20_000_000, byteSize: 160_000_000 });
    const head = new Uint8Array(8 * 1001);
    await getObjectStore().readInto(aggregate!.weights.key, head, { start: 0, end: head.byteLength - 1 });
    expect(new Float64Array(head.buffer)[1000]).toBe(0);
    expect(new Float64Array(head.buffer)[999]).toBe(999 / 8);
  }, 180_000);

  it('never lets an abandoned upload become an update, or a run claim it', async () => {
    const { model, clients } = await newModel(1);
    await uploadBinary(model.id, clients[0]!, Float64Array.from([1, 2, 3]));
    expect(await connector.pullModelUpdatesPendingAggregation(model)).toEqual([]);
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'NothingToAggregate' });
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model.id })).toBe(0);
  });

  it.each([
    ['a short upload', { bytes: new Uint8Array(20) }, /20 bytes were uploaded, but 3 float64 values are 24 bytes/],
    ['corrupt bytes (SHA-256 differs)', { bytes: float64Bytes(Float64Array.from([1, 2, 4])).bytes }, /SHA-256/],
    ['a NaN inside', { nan: true }, /value 1 is NaN or infinite/],
  ])('refuses %s at completion, deletes the bytes and stores nothing as PENDING', async (_, variant, reason) => {
    const { model, clients } = await newModel(1);
    const values = Float64Array.from([1, 'nan' in variant ? Number.NaN : 2, 3]);
    const upload = await uploadBinary(model.id, clients[0]!, values, 'bytes' in variant ? { bytes: variant.bytes } : {});
    const refusal = connector.completeModelUpdateUpload(upload.id, clients[0]!);
    await expect(refusal).rejects.toThrow(ValidationError);
    await expect(connector.completeModelUpdateUpload(upload.id, clients[0]!)).rejects.toThrow(reason);
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model.id })).toBe(0);
    expect(await getObjectStore().head(upload.declared.key)).toBeNull();
  });

  it('refuses at submission an update whose shape differs from the model\'s, JSON or binary', async () => {
    const { model, clients } = await newModel(2);
    await connector.createModelUpdate({ federatedModel: model.id, client: clients[0]!, data: [[1, 2], [3]] });
    const before = await database.db.collection('model_updates').countDocuments();
    await expect(connector.createModelUpdate({ federatedModel: model.id, client: clients[1]!, data: [[1, 2], [3, 4]] })).rejects.toThrow(
      /data has shape layers\[2\|2\], but federated model \d+ expects layers\[2\|1\] \(the shape of its first update\)/,
    );
    await expect(
      connector.createModelUpdateUpload({ federatedModel: model.id, client: clients[1]!, dtype: 'float32', shapes: [[3]], sha256: '0'.repeat(64) }),
    ).rejects.toThrow(/shapes has shape vector\[3\]/);
    expect(await database.db.collection('model_updates').countDocuments()).toBe(before);
    expect(await database.db.collection('model_update_uploads').countDocuments({ federatedModel: model.id })).toBe(0);

    // After a run the aggregate's shape is the one to match (the same here), and it is still checked.
    expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'Aggregated' });
    await expect(connector.createModelUpdate({ federatedModel: model.id, client: clients[1]!, data: [1, 2, 3] })).rejects.toThrow(
      /the shape of its aggregate/,
    );
  });

  it('answers a completed upload with the same update when it is completed again', async () => {
    const { model, clients } = await newModel(1);
    const upload = await uploadBinary(model.id, clients[0]!, Float32Array.from([1.5, 2.5]));
    const [first, second] = await Promise.all([
      connector.completeModelUpdateUpload(upload.id, clients[0]!).catch((error: Error) => error),
      connector.completeModelUpdateUpload(upload.id, clients[0]!).catch((error: Error) => error),
    ]);
    const third = await connector.completeModelUpdateUpload(upload.id, clients[0]!);
    expect(third.created).toBe(false);
    // Of two racing completions one creates the update; the other answers it or is told to retry.
    for (const outcome of [first, second]) {
      if (outcome instanceof Error) expect(outcome.name).toBe('ConflictError');
      else expect(outcome.update.id).toBe(third.update.id);
    }
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model.id })).toBe(1);
    // Another client cannot complete (or learn of) someone else's upload.
    const stranger = (await connector.createClient()).id;
    await expect(connector.completeModelUpdateUpload(upload.id, stranger)).rejects.toThrow(/does not exist/);
  });

  it("takes over a completion only after its holder's bound: 120 s checked inline, 960 s by the verification function", async () => {
    const { model, clients } = await newModel(1);
    const uploads = database.db.collection('model_update_uploads');
    const setBack = (id: string, seconds: number) =>
      uploads.updateOne({ _id: id as never }, { $set: { completingSince: new Date(Date.now() - seconds * 1_000) } });

    // Handed to the verification function (over the inline bound of 0 bytes): held for 960 s.
    const large = await uploadBinary(model.id, clients[0]!, Float32Array.from([1, 2]));
    expect(await connector.claimModelUpdateUploadCompletion(large.id, clients[0]!, 0)).toEqual({ state: 'claimed', byteSize: 8, inline: false });
    expect(await connector.claimModelUpdateUploadCompletion(large.id, clients[0]!, 0)).toMatchObject({ state: 'verifying' });
    await setBack(large.id, 900);
    expect(await connector.claimModelUpdateUploadCompletion(large.id, clients[0]!, 0)).toMatchObject({ state: 'verifying' });
    await setBack(large.id, 961);
    expect(await connector.claimModelUpdateUploadCompletion(large.id, clients[0]!, 0)).toMatchObject({ state: 'claimed' });
    const { update, created } = await connector.verifyModelUpdateUpload(large.id);
    expect(created).toBe(true);
    expect(await connector.claimModelUpdateUploadCompletion(large.id, clients[0]!, 0)).toEqual({ state: 'complete', update });

    // Checked inline: a holder silent for 121 s has died with its request.
    const small = await uploadBinary(model.id, clients[0]!, Float32Array.from([3, 4]));
    expect(await connector.claimModelUpdateUploadCompletion(small.id, clients[0]!)).toMatchObject({ state: 'claimed', inline: true });
    await setBack(small.id, 100);
    await expect(connector.completeModelUpdateUpload(small.id, clients[0]!)).rejects.toThrow(/being completed by another request/);
    await setBack(small.id, 121);
    expect(await connector.completeModelUpdateUpload(small.id, clients[0]!)).toMatchObject({ created: true });
    // Verifying is for the holder of a claim only: an upload nobody claimed is not verified.
    const unclaimed = await uploadBinary(model.id, clients[0]!, Float32Array.from([5, 6]));
    await expect(connector.verifyModelUpdateUpload(unclaimed.id)).rejects.toThrow(/is not being completed/);
  });
});
