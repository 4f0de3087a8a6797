import { FmaApiError, FmaClient } from '@fma-serverless/client';
import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { runAggregation } from '../helpers/offline-client';
import { snapshotDatabase } from '../helpers/snapshot';

/**
 * Binary weights over real HTTP under serverless-offline: a client sends its update as bytes
 * through a presigned URL (the SDK's sendUpdateBinary), a run aggregates, and clients download
 * the aggregate as bytes; JSON bodies too large for Lambda get a 413 that names the binary route.
 */
describe('binary weights through the API under serverless-offline', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let developerToken: string;

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    developerToken = (await connector.createDeveloper('carol')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/binary-weights',
      readyTimeoutMs: 280_000,
    });
  }, 300_000);
  afterAll(() => offline?.stop());

  async function post(path: string, body: string, headers: Record<string, string>) {
    const response = await fetch(`${offline.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as any) };
  }

  async function createModel(): Promise<number> {
    const created = await post('/api/v1/models/', JSON.stringify({ name: 'big', aggregator: 'avg_values_if_data' }), {
      authorization: `Token ${developerToken}`,
    });
    expect(created.status).toBe(201);
    return created.body.id as number;
  }

  it('aggregates binary updates and serves the aggregate as bytes through a presigned URL, equal to the JSON result', async () => {
    const model = await createModel();
    const clients = [0, 1, 2].map(() => new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model }));
    for (const client of clients) await client.register();
    const updates = [Float32Array.from([1, 2, 4, 0.5]), Float32Array.from([5, 2, 3, 0.25]), Float32Array.from([0, 2, 2, 0.75])];
    for (const [i, client] of clients.entries()) {
      const sent = await client.sendUpdateBinary(updates[i]!, { shapes: [[2, 2]] });
      expect(sent).toMatchObject({ federated_model: model, base_aggregate: null, id: expect.any(Number) });
    }
    expect(await runAggregation(offline.httpUrl, model)).toMatchObject({ final_state: 'Aggregated' });

    const downloaded = await clients[0]!.downloadLatestModel();
    expect(downloaded).toMatchObject({ layout: 'layers', shapes: [[2, 2]], aggregate: expect.any(Number) });
    expect(Array.from(downloaded!.values)).toEqual([2, 2, 3, 0.5]);
    expect((await clients[1]!.downloadAggregate(downloaded!.aggregate!)).sha256).toBe(downloaded!.sha256);
    // FMA's JSON read of the same aggregate gives the same numbers.
    expect(await clients[2]!.checkForLatestModel()).toEqual({ values: [[[2, 2], [3, 0.5]]], aggregate: downloaded!.aggregate });
  });

  it('refuses a JSON body too large for Lambda with 413, names the binary route, and stores nothing', async () => {
    const model = await createModel();
    const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model });
    const uuid = await client.register();
    const before = await snapshotDatabase(database.db);
    const data = Array.from({ length: 400_000 }, (_, i) => i + 0.123456789);
    const body = JSON.stringify({ federated_model: model, data, base_aggregate: null });
    expect(body.length).toBeGreaterThan(5 * 1024 * 1024);
    const reply = await post('/api/v1/model_updates/', body, { 'CLIENT-UUID': uuid });
    expect(reply.status).toBe(413);
    expect(reply.body.detail).toMatch(/POST \/api\/v1\/model_updates\/uploads\//);
    expect(await snapshotDatabase(database.db)).toEqual(before);
  });

  it('refuses an upload of the wrong size at completion (400) and keeps nothing', async () => {
    const model = await createModel();
    const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model });
    const uuid = await client.register();
    const declared = await post(
      '/api/v1/model_updates/uploads/',
      JSON.stringify({ federated_model: model, dtype: 'float64', shapes: [[2]], sha256: 'a'.repeat(64) }),
      { 'CLIENT-UUID': uuid },
    );
    expect(declared.status).toBe(201);
    expect(declared.body).toMatchObject({ method: 'PUT', byte_size: 16, url: expect.stringMatching(/^http/) });
    expect((await fetch(declared.body.url, { method: 'PUT', body: new Uint8Array(8) })).status).toBe(200);
    const completed = await post(declared.body.complete, '{}', { 'CLIENT-UUID': uuid });
    expect(completed.status).toBe(400);
    expect(completed.body.upload[0]).toMatch(/8 bytes were uploaded, but 2 float64 values are 16 bytes/);
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(0);
    await expect(client.downloadLatestModel()).resolves.toBeNull();
    await expect(new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model, clientUuid: uuid }).downloadAggregate(999)).rejects.toThrow(FmaApiError);
  });
});
