import { FmaApiError, FmaClient } from '@fma-serverless/client';
import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { httpApi } from '../helpers/http-api';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { runAggregation } from '../helpers/offline-client';
import { snapshotDatabase } from '../helpers/snapshot';

describe('the client and developer API under serverless-offline, driven by the TypeScript SDK', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let developerToken: string;
  let otherDeveloperToken: string;

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    developerToken = (await connector.createDeveloper('alice')).token;
    otherDeveloperToken = (await connector.createDeveloper('bob')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/client-api',
      readyTimeoutMs: 280_000,
    });
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(() => offline?.stop());

  const api = httpApi(() => offline.httpUrl);


  const UPDATE_SCHEMA = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 };
  const RESULTS_SCHEMA = { type: 'object', required: ['accuracy'], properties: { accuracy: { type: 'number' } } };

  async function createModel(body: Record<string, unknown> = {}, token = developerToken) {
    const created = await api('POST', '/api/v1/models/', {
      token,
      body: {
        name: 'fraud',
        aggregator: 'avg_values_if_data',
        requirement: 'require_x_updates',
        requirement_args: [3],
        update_schema: UPDATE_SCHEMA,
        client_agg_results_schema: RESULTS_SCHEMA,
        initial_model: [0, 0, 0],
        ...body,
      },
    });
    expect(created.status).toBe(201);
    return created.body as { id: number; current_artifact: number; developer: string };
  }

  it('runs FMA\'s client loop: register, poll, send updates, aggregate, see the aggregate, score it', async () => {
    const model = await createModel();
    expect(model.current_artifact).toEqual(expect.any(Number));
    const clients = [1, 2, 3].map(() => new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id }));
    for (const client of clients) expect(await client.register()).toMatch(/^[0-9a-f-]{36}$/);

    // Nothing aggregated yet: the latest model is the initial artifact.
    for (const client of clients) {
      expect(await client.checkForNewModelAggregate()).toBeNull();
      expect(await client.checkForLatestModel()).toEqual({ values: [0, 0, 0], aggregate: null });
      expect(await client.getCurrentArtifact()).toMatchObject({ version: '1.0.0', values: [0, 0, 0] });
    }

    const data = [[1, 2, 4], [5, 2, 3], [3, 2, 2]];
    for (const [i, client] of clients.entries()) {
      const sent = await client.sendUpdate(data[i]!, null);
      expect(sent).toEqual({
        id: expect.any(Number),
        // the client's public id: its CLIENT-UUID is a credential no reply repeats
        client: expect.stringMatching(/^[0-9a-f-]{36}$/),
        federated_model: model.id,
        data: data[i],
        created_on: expect.any(String),
        base_aggregate: null,
      });
      expect(sent.client).not.toBe(client.clientUuid);
      expect(sent).not.toHaveProperty('status');
    }

    expect(await runAggregation(offline.httpUrl, model.id)).toMatchObject({ status: 'SUCCEEDED', final_state: 'Aggregated' });

    for (const client of clients) {
      const aggregate = await client.checkForNewModelAggregate();
      expect(aggregate).toMatchObject({ federated_model: model.id, level: 0, result: [3, 2, 3] });
      expect(await client.checkForNewModelAggregate(aggregate!.id)).toBeNull();
      expect(await client.checkForLatestModel()).toEqual({ values: [3, 2, 3], aggregate: aggregate!.id });
      expect(await client.sendValResults({ accuracy: 0.9 }, aggregate!.id)).toMatchObject({ aggregate: aggregate!.id });
    }
    const scores = await database.db.collection('client_aggregate_scores').countDocuments();
    expect(scores).toBe(3);

    // The developer publishes the aggregate as the next artifact.
    const [aggregate] = (await api('GET', '/api/v1/model_aggregates/', { token: developerToken })).body;
    const published = await api('POST', `/api/v1/model_aggregates/${aggregate.id}/publish_aggregate/`, {
      token: developerToken,
      body: { version: '1.1.0' },
    });
    expect(published.status).toBe(201);
    expect(await clients[0]!.getCurrentArtifact()).toMatchObject({ version: '1.1.0', values: [3, 2, 3] });
    const duplicate = await api('POST', `/api/v1/model_aggregates/${aggregate.id}/publish_aggregate/`, {
      token: developerToken,
      body: { version: '1.1.0' },
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body).toHaveProperty('version');
  });

  describe('Idempotency-Key on POST /api/v1/model_updates/', () => {
    async function send(credential: string, key: string | undefined, body: unknown) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'CLIENT-UUID': credential };
      if (key !== undefined) headers['Idempotency-Key'] = key;
      const response = await fetch(`${offline.httpUrl}/api/v1/model_updates/`, { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await response.text();
      return { status: response.status, replayed: response.headers.get('idempotent-replayed'), body: JSON.parse(text) as any };
    }

    it('gives 12 racing requests with one key one update, and the same answer to each', async () => {
      const model = await createModel();
      const credential = (await api('POST', `/api/v1/models/${model.id}/register_client/`)).body.uuid as string;
      const body = { federated_model: model.id, data: [1, 2, 3] };
      // serverless-offline starts a worker (a cold start) for each request that finds all busy; 12
      // at once on a loaded 2-core machine can outlast the function's timeout, where on AWS each
      // would be an instance of its own. The pool is grown in steps first (answers ignored), so
      // the race below is between warm workers, as it would be between warm Lambdas.
      for (const size of [4, 8, 12]) {
        await Promise.all(Array.from({ length: size }, () => api('GET', `/api/v1/models/${model.id}/`, { token: developerToken }).catch(() => undefined)));
      }
      const replies = await Promise.all(Array.from({ length: 12 }, () => send(credential, 'round-1-try', body)));
      expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
      expect(replies.filter((r) => r.replayed === null)).toHaveLength(1);
      expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model.id })).toBe(1);
      // A retry long after answers the same; another key is another update.
      expect((await send(credential, 'round-1-try', body)).body.id).toBe(replies[0]!.body.id);
      expect((await send(credential, 'round-1-other', body)).body.id).not.toBe(replies[0]!.body.id);
      expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model.id })).toBe(2);
    });

    it('refuses the key reused with another body (409), frees a key whose request was refused, and rejects a malformed key (400)', async () => {
      const model = await createModel();
      const credential = (await api('POST', `/api/v1/models/${model.id}/register_client/`)).body.uuid as string;
      const first = await send(credential, 'k-1', { federated_model: model.id, data: [1, 2, 3] });
      expect(first.status).toBe(201);
      const reused = await send(credential, 'k-1', { federated_model: model.id, data: [9, 9, 9] });
      expect(reused).toMatchObject({ status: 409 });
      // The schema wants 3 numbers: refused, and the key is free again for the corrected request.
      expect((await send(credential, 'k-2', { federated_model: model.id, data: [1, 2] })).status).toBe(400);
      const corrected = await send(credential, 'k-2', { federated_model: model.id, data: [4, 5, 6] });
      expect(corrected).toMatchObject({ status: 201, replayed: null });
      const before = await snapshotDatabase(database.db);
      expect((await send(credential, 'has space', { federated_model: model.id, data: [4, 5, 6] })).status).toBe(400);
      expect((await send(credential, 'x'.repeat(256), { federated_model: model.id, data: [4, 5, 6] })).status).toBe(400);
      expect(await snapshotDatabase(database.db)).toEqual(before);
      // The same key from another client is that client's own.
      const other = (await api('POST', `/api/v1/models/${model.id}/register_client/`)).body.uuid as string;
      expect((await send(other, 'k-1', { federated_model: model.id, data: [9, 9, 9] })).status).toBe(201);
    });
  });

  describe('credentials and roles', () => {
    it('answers 401 without credentials or with an unknown token, 403 with an unknown CLIENT-UUID (as DRF)', async () => {
      const model = await createModel();
      expect((await api('GET', `/api/v1/models/${model.id}/get_latest_model/`)).status).toBe(401);
      expect((await api('GET', '/api/v1/models/', { token: 'not-a-token' })).status).toBe(401);
      const unknown = await api('GET', `/api/v1/models/${model.id}/get_latest_model`, {
        client: '00000000-0000-4000-8000-000000000000',
      });
      expect(unknown.status).toBe(403);
      expect(unknown.body).toEqual({ detail: expect.any(String) });
    });

    it('answers 403 to a client outside the model, and keeps its update out', async () => {
      const model = await createModel();
      const other = await createModel();
      const outsider = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: other.id });
      await outsider.register();
      const before = await snapshotDatabase(database.db);
      const read = await api('GET', `/api/v1/models/${model.id}/get_latest_aggregate/`, { client: outsider.clientUuid });
      expect(read.status).toBe(403);
      const sent = await api('POST', '/api/v1/model_updates/', {
        client: outsider.clientUuid,
        body: { federated_model: model.id, data: [1, 2, 3] },
      });
      expect(sent.status).toBe(403);
      expect(await snapshotDatabase(database.db)).toEqual(before);
    });

    it('shows a developer only their own models (others\' are 404) and refuses clients there', async () => {
      const mine = await createModel({ name: 'mine' });
      const theirs = await createModel({ name: 'theirs' }, otherDeveloperToken);
      expect((await api('GET', `/api/v1/models/${mine.id}`, { token: developerToken })).status).toBe(200);
      expect((await api('GET', `/api/v1/models/${theirs.id}/`, { token: developerToken })).status).toBe(404);
      const listed = (await api('GET', '/api/v1/models/?page_size=100', { token: otherDeveloperToken })).body;
      expect(listed.map((m: { id: number }) => m.id)).toEqual([theirs.id]);
      const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: mine.id });
      await client.register();
      expect((await api('GET', '/api/v1/models/', { client: client.clientUuid })).status).toBe(403);
    });

    it('takes the developer from the token, never from the body (another developer there is 403)', async () => {
      const created = await api('POST', '/api/v1/models/', {
        token: developerToken,
        body: { name: 'x', aggregator: 'avg_values_if_data', developer: 'someone-else' },
      });
      expect(created.status).toBe(403);
      expect(created.body).toEqual({ detail: expect.any(String) });
    });

    it('admits new clients to a model with a join secret only with the secret', async () => {
      const model = await createModel({ join_secret: 'correct horse battery' });
      const without = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id });
      await expect(without.register()).rejects.toMatchObject({ status: 403 });
      const withSecret = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id, joinSecret: 'correct horse battery' });
      expect(await withSecret.register()).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('adds a known client to another model with 200, a new one with 201', async () => {
      const first = await createModel();
      const second = await createModel();
      const created = await api('POST', `/api/v1/models/${first.id}/register_client/`);
      expect(created.status).toBe(201);
      const added = await api('POST', `/api/v1/models/${second.id}/register_client`, { client: created.body.uuid });
      expect({ status: added.status, body: added.body }).toEqual({ status: 200, body: { uuid: created.body.uuid } });
    });
  });

  describe('validation', () => {
    it('rejects data that does not match the update schema with FMA\'s message, storing nothing', async () => {
      const model = await createModel();
      const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id });
      await client.register();
      const before = await snapshotDatabase(database.db);
      const error = (await client.sendUpdate([1, 2], null).catch((e: unknown) => e)) as FmaApiError;
      expect(error).toBeInstanceOf(FmaApiError);
      expect(error.status).toBe(400);
      expect(error.body).toEqual({ data: [expect.stringMatching(/^data did not match the required schema: /)] });
      expect(await snapshotDatabase(database.db)).toEqual(before);
    });

    it('rejects a base aggregate of another model with 400', async () => {
      const model = await createModel({ requirement: null, requirement_args: null });
      const other = await createModel({ requirement: null, requirement_args: null });
      const otherClient = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: other.id });
      await otherClient.register();
      await otherClient.sendUpdate([1, 1, 1]);
      await runAggregation(offline.httpUrl, other.id);
      const foreign = (await otherClient.checkForNewModelAggregate())!;
      const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id });
      await client.register();
      await expect(client.sendUpdate([1, 2, 3], foreign.id)).rejects.toMatchObject({
        status: 400,
        body: { base_aggregate: [expect.any(String)] },
      });
    });

    it('rejects a second score for the same aggregate and results that break the schema', async () => {
      const model = await createModel({ requirement: null, requirement_args: null });
      const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id });
      await client.register();
      await client.sendUpdate([1, 1, 1]);
      await runAggregation(offline.httpUrl, model.id);
      const aggregate = (await client.checkForNewModelAggregate())!;
      await expect(client.sendValResults({ recall: 1 }, aggregate.id)).rejects.toMatchObject({
        status: 400,
        body: { validation_results: [expect.stringMatching(/did not match the required schema/)] },
      });
      await client.sendValResults({ accuracy: 0.5 }, aggregate.id);
      await expect(client.sendValResults({ accuracy: 0.6 }, aggregate.id)).rejects.toMatchObject({ status: 400 });
    });

    it('refuses unknown aggregators and requirements when the model is created', async () => {
      const before = await snapshotDatabase(database.db);
      const badAggregator = await api('POST', '/api/v1/models/', { token: developerToken, body: { name: 'x', aggregator: 'median' } });
      expect(badAggregator.status).toBe(400);
      expect(badAggregator.body.aggregator[0]).toMatch(/avg_values_if_data/);
      const badRequirement = await api('POST', '/api/v1/models/', {
        token: developerToken,
        body: { name: 'x', aggregator: 'avg_values_if_data', requirement: 'most_clients' },
      });
      expect(badRequirement.status).toBe(400);
      expect(await snapshotDatabase(database.db)).toEqual(before);
    });
  });

  it('scopes update and aggregate reads by role, and lets only the owner score an aggregate', async () => {
    const model = await createModel({ requirement: null, requirement_args: null });
    const [a, b] = [1, 2].map(() => new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.id }));
    await a!.register();
    await b!.register();
    const sentByA = await a!.sendUpdate([1, 1, 1]);
    await b!.sendUpdate([3, 3, 3]);
    await runAggregation(offline.httpUrl, model.id);

    const own = await api('GET', '/api/v1/model_updates/', { client: a!.clientUuid });
    // The list shows the client's public id, never the CLIENT-UUID it authenticates with.
    expect(own.body).toEqual([expect.objectContaining({ id: sentByA.id, client: sentByA.client })]);
    expect(sentByA.client).not.toBe(a!.clientUuid);
    expect(own.body[0]).not.toHaveProperty('status');
    expect((await api('GET', `/api/v1/model_updates/${sentByA.id}/`, { client: b!.clientUuid })).status).toBe(404);
    expect((await api('GET', `/api/v1/model_updates/${sentByA.id}/`, { client: a!.clientUuid })).body).toMatchObject({
      data: [1, 1, 1],
    });
    const asDeveloper = await api('GET', `/api/v1/model_updates/${sentByA.id}`, { token: developerToken });
    expect(asDeveloper.body).toMatchObject({ status: 2, applied_aggregate: expect.any(Number) });
    expect((await api('GET', `/api/v1/model_updates/${sentByA.id}`, { token: otherDeveloperToken })).status).toBe(404);

    const aggregates = (await api('GET', '/api/v1/model_aggregates/', { client: a!.clientUuid })).body;
    expect(aggregates).toHaveLength(1);
    const id = aggregates[0].id as number;
    expect((await api('GET', `/api/v1/model_aggregates/${id}/`, { client: b!.clientUuid })).body).toMatchObject({ result: [2, 2, 2] });
    expect((await api('GET', '/api/v1/model_aggregates/', { token: otherDeveloperToken })).body).toEqual([]);

    expect((await api('PATCH', `/api/v1/model_aggregates/${id}/`, { client: a!.clientUuid, body: { validation_score: 1 } })).status).toBe(403);
    expect((await api('PATCH', `/api/v1/model_aggregates/${id}/`, { token: otherDeveloperToken, body: { validation_score: 1 } })).status).toBe(404);
    const patched = await api('PATCH', `/api/v1/model_aggregates/${id}/`, { token: developerToken, body: { validation_score: 0.87 } });
    expect(patched).toMatchObject({ status: 200, body: { id, validation_score: 0.87 } });
  });

  it('pages lists newest first, as a bare array with the next page in the Link header', async () => {
    const created = [await createModel({ name: 'p1' }), await createModel({ name: 'p2' }), await createModel({ name: 'p3' })];
    const response = await fetch(`${offline.httpUrl}/api/v1/models/?page=1&page_size=2`, { headers: { authorization: `Token ${developerToken}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { id: number }[]).map((m) => m.id)).toEqual([created[2]!.id, created[1]!.id]);
    expect(response.headers.get('link')).toMatch(/page=2[^>]*>; rel="next"/);
    expect(response.headers.get('link')).not.toContain('rel="prev"');
  });
});
