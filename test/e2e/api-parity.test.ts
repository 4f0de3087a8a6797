import { FmaClient } from '@fma-serverless/client';
import { MongoMetadataConnector } from '../../lib/connector';
import { getObjectStore } from '../../lib/store';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { httpApi } from '../helpers/http-api';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { offlineClient, runAggregation, waitForRun } from '../helpers/offline-client';

/**
 * Issue #18: what a user of FMA's `/api/v1/` relies on beyond the client calls: list shape and
 * headers, filters and ordering, changing and deleting models, score reads, creation with
 * `clients`, flat `average_layers`, and DRF's status codes. Through serverless-offline.
 */
describe('FMA API parity under serverless-offline', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let connector: MongoMetadataConnector;
  let lambda: ReturnType<typeof offlineClient>;
  let token: string;
  let otherToken: string;

  beforeAll(async () => {
    connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    token = (await connector.createDeveloper('alice')).token;
    otherToken = (await connector.createDeveloper('bob')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/api-parity',
      readyTimeoutMs: 280_000,
    });
    lambda = offlineClient(offline);
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(async () => {
    lambda?.lambda.destroy();
    await offline?.stop();
  });

  const api = httpApi(() => offline.httpUrl);


  async function createModel(body: Record<string, unknown> = {}, as = token) {
    const created = await api('POST', '/api/v1/models/', { token: as, body: { name: 'm', aggregator: 'avg_values_if_data', ...body } });
    expect(created.status).toBe(201);
    return created.body as { id: number; clients: string[]; allow_aggregation: boolean };
  }

  async function registeredClient(model: number) {
    const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model });
    await client.register();
    return client;
  }

  const ids = (items: { id: number }[]) => items.map((item) => item.id);

  describe('lists', () => {
    it('answer a bare array of 10 updates (at most 20) with X-Total-Count and RFC 8288 Link headers', async () => {
      const model = await createModel();
      const client = await registeredClient(model.id);
      const sent: number[] = [];
      for (let i = 0; i < 21; i += 1) sent.push((await client.sendUpdate([i])).id);
      const newest = [...sent].reverse();
      const path = `/api/v1/model_updates/?federated_model=${model.id}`;

      const first = await api('GET', path, { token });
      expect(first.status).toBe(200);
      expect(ids(first.body)).toEqual(newest.slice(0, 10));
      expect(first.headers.get('x-total-count')).toBe('21');
      const link = first.headers.get('link')!;
      expect(link).toContain(`rel="next"`);
      expect(link).toMatch(/<[^>]*[?&]page=2[^>]*>; rel="next"/);
      expect(link).toMatch(/federated_model=\d+/);
      expect(link).not.toContain('rel="prev"');
      expect(link).toMatch(/<[^>]*[?&]page=3[^>]*>; rel="last"/);

      const clamped = await api('GET', `${path}&page_size=50`, { token });
      expect(clamped.body).toHaveLength(20);
      const last = await api('GET', `${path}&page=3`, { token });
      expect(ids(last.body)).toEqual([sent[0]]);
      expect(last.headers.get('link')).toMatch(/<[^>]*[?&]page=2[^>]*>; rel="prev"/);
      expect(await api('GET', `${path}&page=4`, { token })).toMatchObject({ status: 404, body: { detail: 'Invalid page.' } });
      // A client sees its own, at the same size.
      expect((await api('GET', '/api/v1/model_updates/', { client: client.clientUuid })).body).toHaveLength(10);
    });

    it('answer models 100 at a time (at most 200)', async () => {
      const many = await connector.createDeveloper('many');
      for (let i = 0; i < 201; i += 1) await connector.createFederatedModel({ name: `m${i}`, developer: many.id, aggregator: 'avg_values_if_data' });
      const first = await api('GET', '/api/v1/models/', { token: many.token });
      expect(first.body).toHaveLength(100);
      expect(first.headers.get('x-total-count')).toBe('201');
      expect((await api('GET', '/api/v1/models/?page_size=500', { token: many.token })).body).toHaveLength(200);
      expect((await api('GET', '/api/v1/models/?page_size=500&page=2', { token: many.token })).body).toHaveLength(1);
    });
  });

  describe('filters and ordering', () => {
    it('filter updates by status and federated_model, aggregates by federated_model, models by allow_aggregation; order by created_on', async () => {
      const a = await createModel({ name: 'a' });
      const b = await createModel({ name: 'b', allow_aggregation: true });
      const client = await registeredClient(a.id);
      await api('POST', `/api/v1/models/${b.id}/register_client/`, { client: client.clientUuid });
      const first = await client.sendUpdate([1, 1]);
      const second = await client.sendUpdate([3, 3]);
      expect(await runAggregation(offline.httpUrl, a.id)).toMatchObject({ status: 'SUCCEEDED' });
      const third = await client.sendUpdate([5, 5]);
      const inB = await api('POST', '/api/v1/model_updates/', { client: client.clientUuid, body: { federated_model: b.id, data: [1] } });
      expect(inB.status).toBe(201);

      const pending = await api('GET', `/api/v1/model_updates/?federated_model=${a.id}&status=0`, { token });
      expect(ids(pending.body)).toEqual([third.id]);
      const complete = await api('GET', `/api/v1/model_updates/?federated_model=${a.id}&status=2`, { token });
      expect(ids(complete.body)).toEqual([second.id, first.id]);
      const oldest = await api('GET', `/api/v1/model_updates/?federated_model=${a.id}&ordering=created_on`, { token });
      expect(ids(oldest.body)).toEqual([first.id, second.id, third.id]);
      const newest = await api('GET', `/api/v1/model_updates/?federated_model=${a.id}&ordering=-created_on&unknown=1`, { token });
      expect(ids(newest.body)).toEqual([third.id, second.id, first.id]);
      const asClient = await api('GET', `/api/v1/model_updates/?federated_model=${b.id}`, { client: client.clientUuid });
      expect(ids(asClient.body)).toEqual([inB.body.id]);
      expect(await api('GET', '/api/v1/model_updates/?status=9', { token })).toMatchObject({ status: 400, body: { status: [expect.any(String)] } });
      expect((await api('GET', '/api/v1/model_updates/?federated_model=x', { token })).status).toBe(400);

      const aggregatesOfA = await api('GET', `/api/v1/model_aggregates/?federated_model=${a.id}`, { token });
      expect(aggregatesOfA.body).toHaveLength(1);
      expect((await api('GET', `/api/v1/model_aggregates/?federated_model=${b.id}`, { token })).body).toEqual([]);

      const allowing = await api('GET', '/api/v1/models/?allow_aggregation=true', { token });
      expect(ids(allowing.body)).toContain(b.id);
      expect(ids(allowing.body)).not.toContain(a.id);
      const notAllowing = await api('GET', '/api/v1/models/?allow_aggregation=false&ordering=created_on', { token });
      expect(ids(notAllowing.body)).toContain(a.id);
      expect(ids(notAllowing.body)).not.toContain(b.id);
      expect(ids(notAllowing.body)).toEqual([...ids(notAllowing.body)].sort((x, y) => x - y));
    });
  });

  describe('changing a model', () => {
    it('PATCH of allow_aggregation takes effect on the next scheduled run', async () => {
      const model = await createModel({ name: 'scheduled' });
      const client = await registeredClient(model.id);
      await client.sendUpdate([2, 4]);
      const schedule = async (time: string) => {
        const reply = await lambda.invoke('startScheduledAggregations', { time, source: 'aws.events' });
        expect(reply.errorType).toBeUndefined();
        const runs = (reply.result as { runs: { model: number; run: string; started: boolean }[] }).runs.filter((run) => run.model === model.id);
        // The runs go on in the background: wait for each to end and report how.
        return Promise.all(runs.map(async (run) => ({ ...run, ...(await waitForRun(offline.httpUrl, run.run)) })));
      };
      expect(await schedule('2026-11-30T01:00:00Z')).toEqual([]);

      const patched = await api('PATCH', `/api/v1/models/${model.id}/`, { token, body: { allow_aggregation: true } });
      expect(patched).toMatchObject({ status: 200, body: { id: model.id, allow_aggregation: true, name: 'scheduled' } });
      expect(await schedule('2026-11-30T01:01:00Z')).toEqual([expect.objectContaining({ model: model.id, final_state: 'Aggregated' })]);
      expect((await api('GET', `/api/v1/model_aggregates/?federated_model=${model.id}`, { token })).body).toHaveLength(1);

      expect((await api('PATCH', `/api/v1/models/${model.id}/`, { token, body: { allow_aggregation: false } })).status).toBe(200);
      await client.sendUpdate([4, 4]);
      expect(await schedule('2026-11-30T01:02:00Z')).toEqual([]);
    });

    it('PUT and PATCH validate as creation does, change clients, and are the owner\'s only', async () => {
      const model = await createModel({ name: 'changing' });
      const client = (await connector.createClient()).id;
      const patch = (body: unknown, as = token) => api('PATCH', `/api/v1/models/${model.id}/`, { token: as, body });
      expect((await patch({ aggregator: 'median' })).status).toBe(400);
      expect((await patch({ requirement: 'require_x_updates', requirement_args: ['x'] })).status).toBe(400);
      expect((await patch({ update_schema: { type: 'nonsense' } })).status).toBe(400);
      expect((await patch({ clients: ['00000000-0000-4000-8000-000000000000'] })).body).toEqual({
        clients: ['Invalid pk "00000000-0000-4000-8000-000000000000" - object does not exist.'],
      });
      expect((await patch({ allow_aggregation: true }, otherToken)).status).toBe(404);
      expect((await patch({ developer: 'someone-else' })).status).toBe(403);

      const changed = await patch({ clients: [client], furthest_base_agg: 2, requirement: 'require_x_updates', requirement_args: [2], id: 99 });
      expect(changed).toMatchObject({
        status: 200,
        body: { id: model.id, clients: [client], furthest_base_agg: 2, requirement: 'require_x_updates', requirement_args: [2] },
      });
      expect((await api('PUT', `/api/v1/models/${model.id}/`, { token, body: { name: 'no aggregator' } })).status).toBe(400);
      const put = await api('PUT', `/api/v1/models/${model.id}/`, {
        token,
        body: { name: 'renamed', aggregator: 'average_layers', clients: [], requirement: null },
      });
      expect(put).toMatchObject({ status: 200, body: { name: 'renamed', aggregator: 'average_layers', clients: [], requirement: null, furthest_base_agg: 2 } });
    });

    it('DELETE removes the model with its updates, aggregates, artifacts, scores and stored weights', async () => {
      const model = await createModel({ name: 'doomed', initial_model: [0, 0] });
      const client = await registeredClient(model.id);
      await client.sendUpdate([1, 1]);
      expect(await runAggregation(offline.httpUrl, model.id)).toMatchObject({ status: 'SUCCEEDED' });
      const [aggregate] = (await api('GET', `/api/v1/model_aggregates/?federated_model=${model.id}`, { token })).body;
      const scored = await api('POST', '/api/v1/client_aggregate_scores/', { client: client.clientUuid, body: { aggregate: aggregate.id, validation_results: { a: 1 } } });
      expect(scored.status).toBe(201);
      expect((await api('POST', `/api/v1/model_aggregates/${aggregate.id}/publish_aggregate/`, { token, body: { version: '2.0.0' } })).status).toBe(201);
      await client.sendUpdate([2, 2]);
      const keys = (
        await Promise.all(
          ['model_updates', 'model_aggregates', 'model_artifacts'].map((name) =>
            database.db.collection(name).find({ federatedModel: model.id }).toArray(),
          ),
        )
      ).flat().map((document) => (document.weights as { key: string }).key);
      expect(keys).toHaveLength(5);
      for (const key of keys) expect(await getObjectStore().head(key)).not.toBeNull();

      expect((await api('DELETE', `/api/v1/models/${model.id}/`, { token: otherToken })).status).toBe(404);
      const deleted = await api('DELETE', `/api/v1/models/${model.id}/`, { token });
      expect(deleted.status).toBe(204);
      for (const name of ['model_updates', 'model_aggregates', 'model_artifacts', 'model_update_uploads']) {
        expect(await database.db.collection(name).countDocuments({ federatedModel: model.id })).toBe(0);
      }
      expect(await database.db.collection('client_aggregate_scores').countDocuments({ aggregate: aggregate.id })).toBe(0);
      expect(await database.db.collection('federated_models').countDocuments({ _id: model.id as never })).toBe(0);
      expect(await database.db.collection('aggregation_leases').countDocuments({ _id: model.id as never })).toBe(0);
      for (const key of keys) expect(await getObjectStore().head(key)).toBeNull();
      expect((await api('GET', `/api/v1/models/${model.id}/`, { token })).status).toBe(404);
      expect((await api('DELETE', `/api/v1/models/${model.id}/`, { token })).status).toBe(404);
    });

    it('DELETE is refused with 409 while a run holds the model\'s lease, and deletes nothing', async () => {
      const model = await createModel({ name: 'busy' });
      const client = await registeredClient(model.id);
      await client.sendUpdate([1]);
      await database.db
        .collection('aggregation_leases')
        .insertOne({ _id: model.id as never, run: 'run-in-flight', acquiredAt: new Date(), expiresAt: new Date(Date.now() + 60_000) });
      const refused = await api('DELETE', `/api/v1/models/${model.id}/`, { token });
      expect(refused).toMatchObject({ status: 409, body: { detail: expect.stringMatching(/being aggregated/) } });
      expect(await database.db.collection('model_updates').countDocuments({ federatedModel: model.id })).toBe(1);
      expect((await api('GET', `/api/v1/models/${model.id}/`, { token })).status).toBe(200);
      expect(await database.db.collection('aggregation_leases').findOne({ _id: model.id as never })).toMatchObject({ run: 'run-in-flight' });
    });
  });

  it('lists and retrieves scores: a developer those of their models\' aggregates, a client its own', async () => {
    const model = await createModel({ name: 'scored' });
    const [a, b] = [await registeredClient(model.id), await registeredClient(model.id)];
    // Lists name clients by their public ids (what a sent update answers as `client`), never by
    // the CLIENT-UUID they authenticate with.
    const { client: publicA } = await a.sendUpdate([1]);
    const { client: publicB } = await b.sendUpdate([3]);
    expect(await runAggregation(offline.httpUrl, model.id)).toMatchObject({ status: 'SUCCEEDED' });
    const [aggregate] = (await api('GET', `/api/v1/model_aggregates/?federated_model=${model.id}`, { token })).body;
    const score = async (client: FmaClient, results: unknown) =>
      (await api('POST', '/api/v1/client_aggregate_scores/', { client: client.clientUuid, body: { aggregate: aggregate.id, validation_results: results } })).body;
    const ofA = await score(a, { accuracy: 0.9 });
    const ofB = await score(b, { accuracy: 0.7 });

    const all = await api('GET', `/api/v1/client_aggregate_scores/?aggregate=${aggregate.id}`, { token });
    expect(all.body).toEqual([
      { id: ofB.id, aggregate: aggregate.id, client: publicB, validation_results: { accuracy: 0.7 }, created_on: expect.any(String) },
      expect.objectContaining({ id: ofA.id, client: publicA }),
    ]);
    expect(all.headers.get('x-total-count')).toBe('2');
    expect(ids((await api('GET', `/api/v1/client_aggregate_scores/?client=${publicA}`, { token })).body)).toEqual([ofA.id]);
    expect(ids((await api('GET', '/api/v1/client_aggregate_scores/?ordering=created_on', { token })).body).slice(-2)).toEqual([ofA.id, ofB.id]);
    expect((await api('GET', '/api/v1/client_aggregate_scores/', { token: otherToken })).body).toEqual([]);
    expect(ids((await api('GET', '/api/v1/client_aggregate_scores/', { client: a.clientUuid })).body)).toEqual([ofA.id]);
    expect((await api('GET', `/api/v1/client_aggregate_scores/?client=${publicB}`, { client: a.clientUuid })).body).toEqual([]);

    expect((await api('GET', `/api/v1/client_aggregate_scores/${ofA.id}/`, { token })).body).toMatchObject({ id: ofA.id, validation_results: { accuracy: 0.9 } });
    expect((await api('GET', `/api/v1/client_aggregate_scores/${ofA.id}/`, { client: a.clientUuid })).status).toBe(200);
    expect((await api('GET', `/api/v1/client_aggregate_scores/${ofA.id}/`, { client: b.clientUuid })).status).toBe(404);
    expect((await api('GET', `/api/v1/client_aggregate_scores/${ofA.id}/`, { token: otherToken })).status).toBe(404);
    expect((await api('GET', '/api/v1/client_aggregate_scores/999999/', { token })).status).toBe(404);
  });

  it('creates a model with `clients` (existing ids), refusing unknown ones and another developer', async () => {
    const [first, second] = [await connector.createClient(), await connector.createClient()];
    const [c1, c2] = [first.id, second.id];
    const model = await createModel({ clients: [c1, c2, c1] });
    expect([...model.clients].sort()).toEqual([c1, c2].sort());
    // A member from the start: it may send updates (with its credential) without registering.
    expect((await api('POST', '/api/v1/model_updates/', { client: first.credential, body: { federated_model: model.id, data: [1] } })).status).toBe(201);
    const unknown = await api('POST', '/api/v1/models/', { token, body: { name: 'x', aggregator: 'avg_values_if_data', clients: ['00000000-0000-4000-8000-000000000000'] } });
    expect(unknown).toMatchObject({ status: 400, body: { clients: ['Invalid pk "00000000-0000-4000-8000-000000000000" - object does not exist.'] } });
    const other = await api('POST', '/api/v1/models/', { token, body: { name: 'x', aggregator: 'avg_values_if_data', developer: 'someone-else' } });
    expect(other.status).toBe(403);
  });

  it('averages flat vectors with average_layers as FMA: [1,2,4] and [5,2,3] give [3.0, 2.0, 3.5]', async () => {
    const model = await createModel({ name: 'flat', aggregator: 'average_layers' });
    const [a, b] = [await registeredClient(model.id), await registeredClient(model.id)];
    await a.sendUpdate([1, 2, 4]);
    await b.sendUpdate([5, 2, 3]);
    expect(await runAggregation(offline.httpUrl, model.id)).toMatchObject({ status: 'SUCCEEDED' });
    const latest = await api('GET', `/api/v1/models/${model.id}/get_latest_aggregate/`, { client: a.clientUuid });
    expect(latest.body).toMatchObject({ result: [3.0, 2.0, 3.5] });
  });

  describe('status codes as DRF answers them', () => {
    it('403 for an unknown CLIENT-UUID; 400 "Invalid pk" for a body id naming nothing; 404 for a path id naming nothing', async () => {
      const model = await createModel({ name: 'codes' });
      const client = await registeredClient(model.id);
      const unknown = await api('GET', '/api/v1/model_updates/', { client: '00000000-0000-4000-8000-000000000000' });
      expect(unknown).toMatchObject({ status: 403, body: { detail: expect.any(String) } });

      const noModel = await api('POST', '/api/v1/model_updates/', { client: client.clientUuid, body: { federated_model: 999_999, data: [1] } });
      expect(noModel).toMatchObject({ status: 400, body: { federated_model: ['Invalid pk "999999" - object does not exist.'] } });
      const noBase = await api('POST', '/api/v1/model_updates/', {
        client: client.clientUuid,
        body: { federated_model: model.id, data: [1], base_aggregate: 999_999 },
      });
      expect(noBase).toMatchObject({ status: 400, body: { base_aggregate: ['Invalid pk "999999" - object does not exist.'] } });
      const noAggregate = await api('POST', '/api/v1/client_aggregate_scores/', { client: client.clientUuid, body: { aggregate: 999_999, validation_results: {} } });
      expect(noAggregate).toMatchObject({ status: 400, body: { aggregate: ['Invalid pk "999999" - object does not exist.'] } });

      expect((await api('GET', '/api/v1/models/999999/', { token })).status).toBe(404);
      expect((await api('PATCH', '/api/v1/models/999999/', { token, body: { name: 'x' } })).status).toBe(404);
      expect((await api('GET', '/api/v1/model_aggregates/999999/', { token })).status).toBe(404);
      expect((await api('GET', '/api/v1/model_updates/999999/', { token })).status).toBe(404);
    });

    it('400 for a publish without a version or with one that exists', async () => {
      const model = await createModel({ name: 'publish', initial_model: [0] });
      const client = await registeredClient(model.id);
      await client.sendUpdate([1]);
      expect(await runAggregation(offline.httpUrl, model.id)).toMatchObject({ status: 'SUCCEEDED' });
      const [aggregate] = (await api('GET', `/api/v1/model_aggregates/?federated_model=${model.id}`, { token })).body;
      const publish = (body: unknown) => api('POST', `/api/v1/model_aggregates/${aggregate.id}/publish_aggregate/`, { token, body });
      expect(await publish({})).toMatchObject({ status: 400, body: { version: [expect.any(String)] } });
      expect(await publish({ version: '1.0.0' })).toMatchObject({ status: 400, body: { version: [expect.any(String)] } });
      expect((await publish({ version: '1.1.0' })).status).toBe(201);
    });
  });
});
