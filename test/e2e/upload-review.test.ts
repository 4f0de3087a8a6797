import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { FmaClient } from '@fma-serverless/client';
import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { httpApi } from '../helpers/http-api';
import { snapshotDatabase } from '../helpers/snapshot';

/**
 * Issue #24's defects of the binary upload path, each reproduced over real HTTP against
 * serverless-offline, the database and the object store, and shown fixed.
 */
describe('the binary upload path after the security review', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let token: string;
  const api = httpApi(() => offline.httpUrl);
  const MAX_OPEN = 2;
  /** Uploads over this are verified by the verification function (item 6); the others inline. */
  const VERIFY_INLINE_MB = 16;
  /** New clients one address may register a minute (item 9); this file registers fewer before its last test. */
  const REGISTRATIONS_PER_MINUTE = 60;

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    token = (await connector.createDeveloper('reviewer')).token;
    offline = await startOffline({
      env: {
        MONGODB_URI: testMongoUri(),
        MONGODB_DB_NAME: database.name,
        AGGREGATION_EXECUTOR: 'local',
        UPLOAD_MAX_OPEN_PER_CLIENT: String(MAX_OPEN),
        UPLOAD_VERIFY_INLINE_MB: String(VERIFY_INLINE_MB),
        REGISTRATIONS_PER_SOURCE_PER_MINUTE: String(REGISTRATIONS_PER_MINUTE),
      },
      esbuildWorkFolder: '.esbuild/upload-review',
      readyTimeoutMs: 280_000,
    });
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(() => offline?.stop());

  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const float64Bytes = (values: Float64Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

  async function modelWithClients(count: number, settings: Record<string, unknown> = {}) {
    const model = await api('POST', '/api/v1/models/', { token, body: { name: 'uploads', aggregator: 'avg_values_if_data', ...settings } });
    expect(model.status).toBe(201);
    const clients: string[] = [];
    for (let i = 0; i < count; i += 1) clients.push((await api('POST', `/api/v1/models/${model.body.id}/register_client/`)).body.uuid);
    return { model: model.body.id as number, clients };
  }

  function declare(client: string, model: number, bytes: Uint8Array, shapes: number[][], dtype = 'float64') {
    return api('POST', '/api/v1/model_updates/uploads/', { client, body: { federated_model: model, dtype, shapes, sha256: sha256(bytes) } });
  }

  it('keeps the bytes it checked when a second PUT swaps them during completion (1)', async () => {
    const { model, clients } = await modelWithClients(1);
    const n = 1 << 20; // 8 MiB of float64
    const good = float64Bytes(new Float64Array(n).fill(1));
    const bad = float64Bytes(new Float64Array(n).fill(Number.NaN));
    const declared = await declare(clients[0]!, model, good, [[n]]);
    expect(declared.status).toBe(201);
    expect((await fetch(declared.body.url, { method: 'PUT', body: good, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);

    // A second PUT of NaN bytes, its last 8 bytes held back until completion has started.
    const swap = request(declared.body.url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(bad.length) } });
    const swapped = new Promise<number>((resolve, reject) => {
      swap.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      swap.on('error', reject);
    });
    swap.write(bad.subarray(0, bad.length - 8));
    const completion = api('POST', declared.body.complete, { client: clients[0]!, body: {} });
    setTimeout(() => swap.end(bad.subarray(bad.length - 8)), 100);
    const [completed] = await Promise.all([completion, swapped]);

    if (completed.status === 201) {
      // Whatever the store holds for the update is what was checked: the good bytes.
      const where = await api('GET', `/api/v1/model_updates/${completed.body.id}/weights/`, { client: clients[0]! });
      expect(where.status).toBe(200);
      const stored = new Uint8Array(await (await fetch(where.body.url)).arrayBuffer());
      expect(sha256(stored)).toBe(sha256(good));
      expect(new Float64Array(stored.buffer, 0, 4)).toEqual(new Float64Array([1, 1, 1, 1]));
    } else {
      // The swap won the race: refused, and no update exists.
      expect(completed.status).toBe(400);
      expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(0);
    }
  });

  it('refuses binary uploads to a model whose update_schema cannot be checked on bytes, storing nothing (2)', async () => {
    const schema = { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 }, maxItems: 3 };
    const { model, clients } = await modelWithClients(1, { update_schema: schema });
    const before = await snapshotDatabase(database.db);
    const declared = await declare(clients[0]!, model, float64Bytes(Float64Array.from([5, 5, 5])), [[3]]);
    expect(declared.status).toBe(400);
    expect(declared.body.federated_model[0]).toMatch(/update_schema.*JSON/);
    expect(await snapshotDatabase(database.db)).toEqual(before);
  });

  it('does not let a declared but never completed upload fix a fresh model\'s shape (3)', async () => {
    const { model, clients } = await modelWithClients(2);
    const declared = await api('POST', '/api/v1/model_updates/uploads/', {
      client: clients[0]!,
      body: { federated_model: model, dtype: 'float32', shapes: [[268_435_456]], sha256: 'a'.repeat(64) },
    });
    expect(declared.status).toBe(201);
    const update = await api('POST', '/api/v1/model_updates/', { client: clients[1]!, body: { federated_model: model, data: [1, 2, 3] } });
    expect(update.status).toBe(201);
    // Now the model has a shape, and a declaration of another is refused at once.
    const other = await api('POST', '/api/v1/model_updates/uploads/', {
      client: clients[0]!,
      body: { federated_model: model, dtype: 'float32', shapes: [[4]], sha256: 'a'.repeat(64) },
    });
    expect(other.status).toBe(400);
    expect(other.body.shapes[0]).toMatch(/expects vector\[3\]/);
  });

  it("closes a removed client's open uploads, whose completion is then refused (4)", async () => {
    const { model, clients } = await modelWithClients(2);
    // The client's public id (what a model's `clients` lists) is on its updates.
    const mine = await api('POST', '/api/v1/model_updates/', { client: clients[0]!, body: { federated_model: model, data: [0, 0, 0] } });
    const bytes = float64Bytes(Float64Array.from([1, 2, 3]));
    const first = await declare(clients[0]!, model, bytes, [[3]]);
    const second = await declare(clients[0]!, model, bytes, [[3]]);
    for (const declared of [first, second]) expect((await fetch(declared.body.url, { method: 'PUT', body: bytes })).status).toBe(200);
    const members = (await api('GET', `/api/v1/models/${model}/`, { token })).body.clients as string[];
    const kept = members.filter((member) => member !== mine.body.client);
    expect(kept).toHaveLength(1);
    expect((await api('PATCH', `/api/v1/models/${model}/`, { token, body: { clients: kept } })).status).toBe(200);

    // The removal closed both open uploads.
    const uploads = await database.db.collection('model_update_uploads').find({ federatedModel: model }).toArray();
    expect(uploads.map((upload) => [upload.status, upload.reason])).toEqual([
      ['refused', 'the client was removed from the model'],
      ['refused', 'the client was removed from the model'],
    ]);
    const completed = await api('POST', first.body.complete, { client: clients[0]!, body: {} });
    expect(completed.status).toBe(400);
    expect(completed.body.upload[0]).toMatch(/removed from the model/);
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(1); // the JSON one only
  });

  it('checks membership again at completion: a membership gone without the upload closed is 403 (4)', async () => {
    const { model, clients } = await modelWithClients(1);
    const bytes = float64Bytes(Float64Array.from([1, 2, 3]));
    const declared = await declare(clients[0]!, model, bytes, [[3]]);
    expect((await fetch(declared.body.url, { method: 'PUT', body: bytes })).status).toBe(200);
    // As if the removal raced the completion: the membership is gone, the upload still open.
    expect((await database.db.collection('model_clients').deleteMany({ federatedModel: model })).deletedCount).toBe(1);
    const completed = await api('POST', declared.body.complete, { client: clients[0]!, body: {} });
    expect(completed.status).toBe(403);
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(0);
    expect(await database.db.collection('model_update_uploads').findOne({ federatedModel: model })).toMatchObject({ status: 'refused' });
  });

  it('caps the uploads one client may hold open on a model: 429 with Retry-After, nothing kept (5)', async () => {
    const { model, clients } = await modelWithClients(2);
    const bytes = float64Bytes(Float64Array.from([1, 2, 3]));
    for (let i = 0; i < MAX_OPEN; i += 1) expect((await declare(clients[0]!, model, bytes, [[3]])).status).toBe(201);
    const before = await snapshotDatabase(database.db);
    const refused = await declare(clients[0]!, model, bytes, [[3]]);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body.detail).toMatch(new RegExp(`at most ${MAX_OPEN} open uploads`));
    expect(await snapshotDatabase(database.db)).toEqual(before);
    // Another client of the model is not held back by this one's uploads.
    expect((await declare(clients[1]!, model, bytes, [[3]])).status).toBe(201);
    // Concurrent declarations never get past the cap.
    const { model: other, clients: [racer] } = await modelWithClients(1);
    const raced = await Promise.all(Array.from({ length: 5 }, () => declare(racer!, other, bytes, [[3]])));
    expect(raced.filter((reply) => reply.status === 201).length).toBeLessThanOrEqual(MAX_OPEN);
    expect(raced.every((reply) => reply.status === 201 || reply.status === 429)).toBe(true);
  }, 240_000); // the race meets cold serverless-offline workers on a 2-core machine

  it('reads a model\'s `clients` once per distinct id and bounds them (9)', async () => {
    const { model } = await modelWithClients(1);
    const members = (await api('GET', `/api/v1/models/${model}/`, { token })).body.clients as string[];
    const repeated = await api('PATCH', `/api/v1/models/${model}/`, { token, body: { clients: Array.from({ length: 5_000 }, () => members[0]) } });
    expect(repeated.status).toBe(200);
    expect(repeated.body.clients).toEqual(members);
    const before = await snapshotDatabase(database.db);
    const many = Array.from({ length: 1_001 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const refused = await api('PATCH', `/api/v1/models/${model}/`, { token, body: { clients: many } });
    expect(refused.status).toBe(400);
    expect(refused.body.clients[0]).toMatch(/no more than 1000 distinct clients/);
    expect(await snapshotDatabase(database.db)).toEqual(before);
  });

  it('lists the first 1,000 members in a model\'s representation and every member page by page (9)', async () => {
    const { model, clients } = await modelWithClients(1);
    const [first] = (await api('GET', `/api/v1/models/${model}/`, { token })).body.clients as string[];
    // 1,004 more members, joined a second apart (written directly: registering them takes minutes).
    const joined = Date.now();
    const members = Array.from({ length: 1_004 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    await database.db.collection('model_clients').insertMany(
      members.map((client, i) => ({ _id: `${model}/${client}`, federatedModel: model, client, joinedOn: new Date(joined + (i + 1) * 1_000) })) as never[],
    );
    const shown = (await api('GET', `/api/v1/models/${model}/`, { token })).body;
    expect(shown.clients).toEqual([first, ...members.slice(0, 999)]);
    expect(shown).toMatchObject({ clients_count: 1_005, clients_url: `/api/v1/models/${model}/clients/` });
    const listed = (await api('GET', '/api/v1/models/', { token })).body.find((m: { id: number }) => m.id === model);
    expect(listed).toMatchObject({ clients_count: 1_005 });
    expect(listed.clients).toHaveLength(1_000);

    const page = await api('GET', `${shown.clients_url}?page=2&page_size=1000`, { token });
    expect(page.status).toBe(200);
    expect(page.headers.get('x-total-count')).toBe('1005');
    expect(page.body.map((member: { client: string }) => member.client)).toEqual(members.slice(999));
    // The members are the developer's business: a client of the model sees none of them.
    expect((await api('GET', shown.clients_url, { client: clients[0]! })).status).toBe(403);
    // A model with fewer members looks as it did in FMA.
    const small = (await api('GET', `/api/v1/models/${(await modelWithClients(2)).model}/`, { token })).body;
    expect(small.clients).toHaveLength(2);
    expect(small).not.toHaveProperty('clients_count');
  });

  it('answers an update too large for JSON with 413 naming its download route, which serves its bytes to its client only (7)', async () => {
    const { model, clients } = await modelWithClients(2);
    const n = 300_000;
    const bytes = float64Bytes(Float64Array.from({ length: n }, (_, i) => i / 7));
    const declared = await declare(clients[0]!, model, bytes, [[n]]);
    expect((await fetch(declared.body.url, { method: 'PUT', body: bytes })).status).toBe(200);
    const completed = await api('POST', declared.body.complete, { client: clients[0]!, body: {} });
    expect(completed.status).toBe(201);
    const id = completed.body.id as number;

    const json = await api('GET', `/api/v1/model_updates/${id}/`, { client: clients[0]! });
    expect(json.status).toBe(413);
    expect(json.body.detail).toMatch(new RegExp(`GET /api/v1/model_updates/${id}/weights/`));
    for (const caller of [{ client: clients[0]! }, { token }]) {
      const where = await api('GET', `/api/v1/model_updates/${id}/weights/`, caller);
      expect(where.status).toBe(200);
      expect(where.body).toMatchObject({ update: id, dtype: 'float64', length: n, sha256: sha256(bytes) });
      expect(sha256(new Uint8Array(await (await fetch(where.body.url)).arrayBuffer()))).toBe(sha256(bytes));
    }
    expect((await api('GET', `/api/v1/model_updates/${id}/weights/`, { client: clients[1]! })).status).toBe(404);
  });

  /** POSTs completion until it answers something other than 202 (the verification function is at work). */
  async function completeWhenVerified(client: string, complete: string) {
    const answers: number[] = [];
    for (;;) {
      const reply = await api('POST', complete, { client, body: {} });
      answers.push(reply.status);
      if (reply.status !== 202) return { reply, answers };
      expect(reply.body).toMatchObject({ status: 'verifying', complete });
      expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('hands an upload too large to check within the request to the verification function: 202 until it is an update (6)', async () => {
    const { model, clients } = await modelWithClients(1);
    const n = 4 * 1024 * 1024; // 32 MiB of float64, over the 16 MiB checked inline
    const bytes = float64Bytes(Float64Array.from({ length: n }, (_, i) => (i % 1000) / 1000));
    const declared = await declare(clients[0]!, model, bytes, [[n]]);
    expect((await fetch(declared.body.url, { method: 'PUT', body: bytes })).status).toBe(200);

    // Several completions at once: one hands the upload over, every one answers 202.
    const first = await Promise.all(Array.from({ length: 3 }, () => api('POST', declared.body.complete, { client: clients[0]!, body: {} })));
    expect(first.map((reply) => reply.status)).toEqual([202, 202, 202]);
    expect(first[0]!.body).toEqual({ id: declared.body.id, status: 'verifying', byte_size: n * 8, complete: declared.body.complete });
    const { reply, answers } = await completeWhenVerified(clients[0]!, declared.body.complete);
    expect(reply.status).toBe(200);
    expect(answers.every((status, i) => status === (i === answers.length - 1 ? 200 : 202))).toBe(true);
    expect(reply.body).toMatchObject({ federated_model: model });
    const pending = await new MongoMetadataConnector(database.db).pullModelUpdatesPendingAggregation(model);
    expect(pending.map((update) => update.id)).toEqual([reply.body.id]);

    // One update, of exactly the bytes uploaded.
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(1);
    const where = await api('GET', `/api/v1/model_updates/${reply.body.id}/weights/`, { client: clients[0]! });
    expect(where.body).toMatchObject({ length: n, sha256: sha256(bytes) });
    expect(sha256(new Uint8Array(await (await fetch(where.body.url)).arrayBuffer()))).toBe(sha256(bytes));
    // Completing again answers the same update.
    const again = await api('POST', declared.body.complete, { client: clients[0]!, body: {} });
    expect([again.status, again.body.id]).toEqual([200, reply.body.id]);
  }, 120_000);

  it('refuses a large upload whose bytes the verification function finds wrong, keeping nothing (6)', async () => {
    const { model, clients } = await modelWithClients(1);
    const n = 4 * 1024 * 1024;
    const values = new Float64Array(n).fill(0.25);
    values[n - 3] = Number.POSITIVE_INFINITY;
    const bytes = float64Bytes(values);
    const declared = await declare(clients[0]!, model, bytes, [[n]]);
    expect((await fetch(declared.body.url, { method: 'PUT', body: bytes })).status).toBe(200);
    const { reply, answers } = await completeWhenVerified(clients[0]!, declared.body.complete);
    expect(answers[0]).toBe(202);
    expect(reply.status).toBe(400);
    expect(reply.body.upload[0]).toBe(`value ${n - 3} is NaN or infinite; weights must be finite`);
    expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model })).toBe(0);
    expect(await database.db.collection('model_update_uploads').findOne({ _id: declared.body.id })).toMatchObject({ status: 'refused' });
  }, 120_000);

  it("lets the SDK's sendUpdateBinary wait out a large upload's verification and answer its update (6)", async () => {
    const model = (await api('POST', '/api/v1/models/', { token, body: { name: 'sdk large', aggregator: 'avg_values_if_data' } })).body.id as number;
    const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model });
    await client.register();
    const values = Float32Array.from({ length: 5 * 1024 * 1024 }, (_, i) => Math.sin(i)); // 20 MiB
    const sent = await client.sendUpdateBinary(values);
    expect(sent).toMatchObject({ federated_model: model });
    const where = await api('GET', `/api/v1/model_updates/${sent.id}/weights/`, { token });
    expect(where.body).toMatchObject({ dtype: 'float32', length: values.length, sha256: sha256(new Uint8Array(values.buffer)) });
  }, 120_000);

  // Last: it spends this minute's registrations of 127.0.0.1.
  it('bounds the new clients one address may register a minute: 429 with Retry-After, nothing created (9)', async () => {
    const model = (await api('POST', '/api/v1/models/', { token, body: { name: 'open door', aggregator: 'avg_values_if_data' } })).body.id as number;
    const member = (await api('POST', `/api/v1/models/${model}/register_client/`)).body.uuid as string;
    let refused: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i <= REGISTRATIONS_PER_MINUTE && refused === undefined; i += 1) {
      const before = await database.db.collection('clients').countDocuments();
      const reply = await api('POST', `/api/v1/models/${model}/register_client/`);
      if (reply.status === 429) {
        refused = reply;
        expect(await database.db.collection('clients').countDocuments()).toBe(before);
      } else expect(reply.status).toBe(201);
    }
    expect(refused).toBeDefined();
    expect(refused!.body.detail).toMatch(new RegExp(`at most ${REGISTRATIONS_PER_MINUTE} every 60 s`));
    const retryAfter = Number(refused!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // A client that has its credential joins (or re-joins) a model without creating anyone: not counted.
    expect((await api('POST', `/api/v1/models/${model}/register_client/`, { client: member })).status).toBe(200);
  });
});
