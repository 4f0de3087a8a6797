import { createHash } from 'node:crypto';
import { ErrorFeedback, FmaClient } from '@fma-serverless/client';
import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { decodeValues, encodeValues, INT8_BLOCK_BYTES, type WeightsDtype } from '../../lib/weights';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { runAggregation } from '../helpers/offline-client';
import { snapshotDatabase } from '../helpers/snapshot';
import { useTestObjectStore } from '../helpers/object-store';

/**
 * Issue #26 over real HTTP under serverless-offline: binary updates declared as float32, float16,
 * bfloat16 and int8 in one round aggregate to the mean of their decoded values; int8 uploads of
 * the wrong size or scale count, or with NaN/Inf scales, are refused at completion with nothing
 * stored; the aggregate downloads in a compact dtype on request.
 */
describe('encoded binary updates through the API under serverless-offline', () => {
  const database = useTestDatabase();
  // A bucket of this file's own, so that listing a model's keys sees no other file's model of that id.
  const objects = useTestObjectStore();
  let offline: RunningOffline;
  let developerToken: string;

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    developerToken = (await connector.createDeveloper('erin')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local', S3_BUCKET: objects.bucket },
      esbuildWorkFolder: '.esbuild/encoded-uploads',
      readyTimeoutMs: 280_000,
    });
  }, 300_000);
  afterAll(() => offline?.stop());

  async function call(method: string, path: string, body: unknown, headers: Record<string, string>) {
    const response = await fetch(`${offline.httpUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as any) };
  }

  async function modelWithClients(count: number, aggregator = 'weighted_fedavg'): Promise<{ model: number; uuids: string[] }> {
    const created = await call('POST', '/api/v1/models/', { name: 'encoded', aggregator }, { authorization: `Token ${developerToken}` });
    expect(created.status).toBe(201);
    const uuids: string[] = [];
    for (let i = 0; i < count; i += 1) uuids.push(await new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: created.body.id }).register());
    return { model: created.body.id as number, uuids };
  }

  /** Declare → PUT → complete, as a client does by hand; answers the completion's reply. */
  async function upload(model: number, uuid: string, dtype: WeightsDtype, shapes: number[][], bytes: Uint8Array, numExamples: number | null = null) {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const declared = await call('POST', '/api/v1/model_updates/uploads/', { federated_model: model, dtype, shapes, sha256, num_examples: numExamples }, { 'CLIENT-UUID': uuid });
    expect(declared.status).toBe(201);
    // Its own content-length: a body of the wrong size must reach the store for completion to refuse it.
    expect((await fetch(declared.body.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
    return { declared: declared.body, completed: await call('POST', declared.body.complete, {}, { 'CLIENT-UUID': uuid }) };
  }

  const P = 10_000;
  const SHAPES = [[100, 64], [3_600]];
  const data = (seed: number) => Float64Array.from({ length: P }, (_, i) => Math.sin(seed * 7.3 + i * 0.37) * (i < 6_400 ? 0.2 : 4));
  const decoded = (bytes: Uint8Array, dtype: WeightsDtype) => Float64Array.from(decodeValues(new Uint8Array(bytes), dtype, P, new Float32Array(P)));

  it('aggregates a round of float32, float16, bfloat16 and int8 updates to exactly the weighted mean of their decoded values', async () => {
    const dtypes: WeightsDtype[] = ['float32', 'float16', 'bfloat16', 'int8'];
    const { model, uuids } = await modelWithClients(dtypes.length);
    const sum = new Float64Array(P);
    let examples = 0;
    const sizes: Record<string, number> = {};
    for (const [i, dtype] of dtypes.entries()) {
      const bytes = encodeValues(data(i), dtype);
      const numExamples = 100 + 50 * i;
      const { declared, completed } = await upload(model, uuids[i]!, dtype, SHAPES, bytes, numExamples);
      expect(completed.status).toBe(201);
      sizes[dtype] = declared.byte_size;
      const x = decoded(bytes, dtype);
      for (let j = 0; j < P; j += 1) sum[j]! += numExamples * x[j]!;
      examples += numExamples;
    }
    // What each dtype costs on the wire: 4, 2, 2 and 1 + 4/64 bytes a value.
    expect(sizes).toEqual({ float32: 40_000, float16: 20_000, bfloat16: 20_000, int8: 10_000 + 4 * 157 });
    expect(await runAggregation(offline.httpUrl, model)).toMatchObject({ final_state: 'Aggregated' });
    const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model, clientUuid: uuids[0]! });
    const latest = (await client.downloadLatestModel())!;
    const expected = sum.map((value) => value / examples);
    expect(latest.values).toBeInstanceOf(Float64Array);
    expect(Buffer.from(latest.values.buffer, latest.values.byteOffset, latest.values.byteLength).equals(Buffer.from(expected.buffer))).toBe(true);

    // A compact download of the same aggregate: the reply describes the copy, whose bytes are the encoding of the aggregate.
    for (const dtype of ['float16', 'bfloat16', 'int8', 'float32'] as const) {
      const reply = await call('GET', `/api/v1/model_aggregates/${latest.aggregate}/weights/?dtype=${dtype}`, undefined, { 'CLIENT-UUID': uuids[1]! });
      expect(reply.status).toBe(200);
      const bytes = new Uint8Array(await (await fetch(reply.body.url)).arrayBuffer());
      expect(reply.body).toMatchObject({ dtype, length: P, byte_size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') });
      expect(Buffer.from(bytes).equals(Buffer.from(encodeValues(expected, dtype)))).toBe(true);
      const again = await call('GET', `/api/v1/models/${model}/get_latest_model/weights/?dtype=${dtype}`, undefined, { 'CLIENT-UUID': uuids[2]! });
      expect(again.body).toMatchObject({ dtype, sha256: reply.body.sha256, aggregate: latest.aggregate });
    }
    const bad = await call('GET', `/api/v1/model_aggregates/${latest.aggregate}/weights/?dtype=int4`, undefined, { 'CLIENT-UUID': uuids[1]! });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/dtype/);
  });

  const intact = () => encodeValues(data(9), 'int8');
  const withScale = (scale: number, block: number) => {
    const bytes = intact();
    new DataView(bytes.buffer).setFloat32(block * INT8_BLOCK_BYTES, scale, true);
    return bytes;
  };
  it.each([
    ['one scale too few (values without the last block\'s scale)', () => intact().subarray(0, 10_000 + 4 * 156), /10624 bytes were uploaded, but 10000 int8 values \(157 blocks of up to 64: 10000 bytes and 157 float32 scales\) are 10628 bytes/],
    ['no scales at all (10,000 bare bytes)', () => new Uint8Array(10_000).fill(1), /10000 bytes were uploaded, but 10000 int8 values \(157 blocks/],
    ['a byte too many', () => Uint8Array.from([...intact(), 0]), /10629 bytes were uploaded/],
    ['a NaN scale', () => withScale(Number.NaN, 0), /the scale of int8 block 0 \(values 0-63\) is NaN; scales must be finite and non-negative/],
    ['an infinite scale', () => withScale(Infinity, 156), /the scale of int8 block 156 \(values 9984-10047\) is Infinity/],
    ['a negative scale', () => withScale(-1, 70), /the scale of int8 block 70 .* is -1/],
    ['a scale that overflows a decoded value', () => withScale(3e38, 12), /value 7\d\d is NaN or infinite/],
  ])('refuses an int8 upload with %s at completion (400 naming it) and stores nothing', async (_name, bytesOf, message) => {
    const { model, uuids } = await modelWithClients(1, 'avg_values_if_data');
    const withoutUploads = async () => {
      const { model_update_uploads: _uploads, ...rest } = await snapshotDatabase(database.db);
      return rest;
    };
    const before = await withoutUploads();
    const { completed } = await upload(model, uuids[0]!, 'int8', SHAPES, bytesOf());
    expect(completed.status).toBe(400);
    expect(completed.body.upload[0]).toMatch(message);
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(0);
    expect(await withoutUploads()).toEqual(before);
    // Neither the uploaded bytes nor their copy are kept.
    for (const prefix of [`uploads/${model}/`, `updates/${model}/`]) expect((await objects.store.list(prefix)).objects).toEqual([]);
    const uploads = await database.db.collection('model_update_uploads').find({ federatedModel: model }).toArray();
    expect(uploads.map((found) => found.status)).toEqual(['refused']);
  });

  it('the SDK sends int8 (with error feedback) and float16 updates and downloads the aggregate as float16', async () => {
    const { model, uuids } = await modelWithClients(2, 'avg_values_if_data');
    const [a, b] = uuids.map((uuid) => new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model, clientUuid: uuid }));
    const feedback = new ErrorFeedback('int8');
    const first = Float32Array.from(data(1));
    const sentBytes = feedback.encode(first);
    feedback.reset();
    expect(await a!.sendUpdateBinary(first, { shapes: SHAPES, errorFeedback: feedback })).toMatchObject({ federated_model: model });
    expect(feedback.lastResidual).not.toBeNull();
    await b!.sendUpdateBinary(data(2), { shapes: SHAPES, dtype: 'float16' });
    expect(await runAggregation(offline.httpUrl, model)).toMatchObject({ final_state: 'Aggregated' });
    const x = decoded(sentBytes, 'int8');
    const y = decoded(encodeValues(data(2), 'float16'), 'float16');
    const mean = x.map((value, j) => (value + y[j]!) / 2);
    const latest = (await a!.downloadLatestModel())!;
    expect(Array.from(latest.values)).toEqual(Array.from(mean));
    const compact = await b!.downloadAggregate(latest.aggregate!, { dtype: 'float16' });
    expect(compact.values).toBeInstanceOf(Float32Array);
    expect(Array.from(compact.values)).toEqual(Array.from(decoded(encodeValues(mean, 'float16'), 'float16')));
  });
});
