import { handler as runNow } from '../../../functions/aggregation/run-now';
import { handler as router } from '../../../functions/api/router';
import { WEIGHTS_LIMITS } from '../../../lib/weights';
import { useHandlerDatabase } from '../../helpers/database';
import { handlerApi } from '../../helpers/http-api';
import { snapshotDatabase } from '../../helpers/snapshot';

/**
 * Regression tests for the reproductions of issue #17 (security review), through the HTTP API:
 * each request is an API Gateway (HTTP API v2) event given to the Lambda that serves `/api/v1/`
 * (the router, with every route's wrapped handler), against the test database and object store.
 * Each asserts the fixed behaviour and, for each rejection, that the database did not change at
 * all (counters included).
 */
describe('issue #17: credentials, partial writes, crashing and poisoning inputs', () => {
  const database = useHandlerDatabase();
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    alice = (await database.connector.createDeveloper('alice')).token;
    bob = (await database.connector.createDeveloper('bob')).token;
  });

  const api = handlerApi((path) => (path.startsWith('/api/v1/') ? router : runNow));


  /** Runs the request and asserts that it changed nothing in the database (ids included). */
  async function writesNothing<T>(request: () => Promise<T>): Promise<T> {
    const before = await snapshotDatabase(database.db);
    const reply = await request();
    expect(await snapshotDatabase(database.db)).toEqual(before);
    return reply;
  }

  async function createModel(token: string, body: Record<string, unknown> = {}) {
    const created = await api('POST', '/api/v1/models/', { token, body: { name: 'm', aggregator: 'avg_values_if_data', ...body } });
    expect(created.status).toBe(201);
    return created.body as { id: number };
  }

  async function register(model: number, options: { client?: string; body?: unknown } = {}): Promise<string> {
    const reply = await api('POST', `/api/v1/models/${model}/register_client/`, options);
    expect([200, 201]).toContain(reply.status);
    return reply.body.uuid as string;
  }

  /** `depth` lists nested in one another around a single number. */
  const nestedJson = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

  describe('1. a client credential is never shown to anyone else', () => {
    it("shows developers a public id, which does not authenticate, so a developer cannot act as a client in another developer's model", async () => {
      const own = await createModel(alice);
      const other = await createModel(bob, { join_secret: 'a long enough secret' });
      const credential = await register(own.id);
      expect(await register(other.id, { client: credential, body: { join_secret: 'a long enough secret' } })).toBe(credential);
      await api('POST', `/api/v1/model_updates/`, { client: credential, body: { federated_model: other.id, data: [1, 2, 3] } });
      const sent = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: own.id, data: [1, 2, 3] } });
      expect(sent.status).toBe(201);
      const publicId = sent.body.client as string;
      expect(publicId).toMatch(/^[0-9a-f-]{36}$/);
      expect(publicId).not.toBe(credential);

      // What alice sees of her own model and its updates names the client by its public id only.
      const model = await api('GET', `/api/v1/models/${own.id}/`, { token: alice });
      expect(model.body.clients).toEqual([publicId]);
      const updates = await api('GET', '/api/v1/model_updates/', { token: alice });
      expect(updates.body.map((u: { client: string }) => u.client)).toEqual([publicId]);
      for (const reply of [model, updates]) expect(JSON.stringify(reply.body)).not.toContain(credential);

      // Replaying what she saw gets her nothing in bob's model, and writes nothing.
      for (const path of [`/api/v1/models/${other.id}/get_latest_model/`, `/api/v1/models/${other.id}/get_current_artifact/`]) {
        expect((await writesNothing(() => api('GET', path, { client: publicId }))).status).toBe(403);
      }
      const posted = await writesNothing(() =>
        api('POST', '/api/v1/model_updates/', { client: publicId, body: { federated_model: other.id, data: [9, 9, 9] } }),
      );
      expect(posted.status).toBe(403);

      // The database holds the credential only as a hash.
      const stored = await database.db.collection('clients').find({}).toArray();
      expect(JSON.stringify(stored)).not.toContain(credential);
      // and the join secret only as a salted scrypt key.
      const secretHash = (await database.db.collection('federated_models').findOne({ _id: other.id as never }))!.joinSecretHash as string;
      expect(secretHash).toMatch(/^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
      const wrong = await writesNothing(() => api('POST', `/api/v1/models/${other.id}/register_client/`, { body: { join_secret: 'a long enough secreT' } }));
      expect(wrong.status).toBe(403);
    });
  });

  describe('2. a rejected model creation writes nothing', () => {
    it.each([[['x']], [[]], [[[1], 'x']]])('refuses initial_model %j with 400 on initial_model, creating no model', async (initialModel) => {
      const reply = await writesNothing(() =>
        api('POST', '/api/v1/models/', { token: alice, body: { name: 'm', aggregator: 'avg_values_if_data', initial_model: initialModel } }),
      );
      expect(reply.status).toBe(400);
      expect(Object.keys(reply.body)).toEqual([expect.stringMatching(/^initial_model/)]);
    });
  });

  describe('3. inputs that crashed are refused with 400/413 naming the limit, and write nothing', () => {
    let model: number;
    let credential: string;
    let aggregate: number;
    beforeAll(async () => {
      model = (await createModel(alice)).id;
      credential = await register(model);
      await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [1, 2, 3] } });
      await api('POST', '/aggregation/run', { body: { model } });
      aggregate = (await api('GET', `/api/v1/models/${model}/get_latest_aggregate/`, { client: credential })).body.id;
      expect(aggregate).toEqual(expect.any(Number));
    });

    const update = (data: string) => `{"federated_model": ${model}, "data": ${data}}`;

    it.each([
      ['nested 20,000 levels deep', () => nestedJson(20_000), /nested more than 9 levels/],
      ['nested 3,000 levels deep', () => nestedJson(3_000), /nested more than 9 levels/],
      ['with more layers than the limit', () => JSON.stringify(Array.from({ length: WEIGHTS_LIMITS.maxLayers + 1 }, () => [1])), /limit of 10000/],
      ['with more values than the limit', () => `[${new Array(WEIGHTS_LIMITS.maxValues + 1).fill('1').join(',')}]`, /limit of 1000000/],
    ])('refuses data %s with 400', async (_, data, message) => {
      const reply = await writesNothing(() => api('POST', '/api/v1/model_updates/', { client: credential, raw: update(data()) }));
      expect(reply.status).toBe(400);
      expect(reply.body.data[0]).toMatch(message);
    });

    it('refuses validation_results nested 20,000 levels deep with 400, and oversized ones with 413', async () => {
      const deep = await writesNothing(() =>
        api('POST', '/api/v1/client_aggregate_scores/', {
          client: credential,
          raw: `{"aggregate": ${aggregate}, "validation_results": ${nestedJson(20_000)}}`,
        }),
      );
      expect(deep.status).toBe(400);
      expect(deep.body.validation_results[0]).toMatch(/nested more than 32 levels/);
      const large = await writesNothing(() =>
        api('POST', '/api/v1/client_aggregate_scores/', {
          client: credential,
          body: { aggregate, validation_results: { note: 'x'.repeat(70_000) } },
        }),
      );
      expect(large.status).toBe(413);
      expect(large.body.detail).toMatch(/limit is 65536 bytes/);
    });

    it('refuses an initial_model of more values than the limit, and a deeply nested update_schema, creating nothing', async () => {
      const values = await writesNothing(() =>
        api('POST', '/api/v1/models/', {
          token: alice,
          raw: `{"name": "m", "aggregator": "avg_values_if_data", "initial_model": [${new Array(WEIGHTS_LIMITS.maxValues + 1).fill('0').join(',')}]}`,
        }),
      );
      expect(values.status).toBe(400);
      expect(values.body.initial_model[0]).toMatch(/limit of 1000000/);
      const schema = await writesNothing(() =>
        api('POST', '/api/v1/models/', { token: alice, raw: `{"name": "m", "aggregator": "avg_values_if_data", "update_schema": {"a": ${nestedJson(20_000)}}}` }),
      );
      expect(schema.status).toBe(400);
      expect(schema.body.update_schema[0]).toMatch(/nested more than 32 levels/);
    });
  });

  describe('5. hardening', () => {
    it('refuses a model whose update_schema holds a catastrophic pattern with 400, creating nothing', async () => {
      const schema = { type: 'array', items: { type: 'string', pattern: '^(a+)+$' } };
      const reply = await writesNothing(() =>
        api('POST', '/api/v1/models/', { token: alice, body: { name: 'm', aggregator: 'avg_values_if_data', update_schema: schema } }),
      );
      expect(reply.status).toBe(400);
      expect(reply.body.update_schema[0]).toMatch(/exponential time/);
    });

    it('checks a model change (PATCH, PUT) as it checks a creation: unsafe patterns and deep schemas change nothing', async () => {
      const { id } = await createModel(alice);
      const unsafe = { type: 'array', items: { type: 'string', pattern: '^(a+)+$' } };
      const patched = await writesNothing(() => api('PATCH', `/api/v1/models/${id}/`, { token: alice, body: { update_schema: unsafe } }));
      expect(patched.status).toBe(400);
      expect(patched.body.update_schema[0]).toMatch(/exponential time/);
      const deep = await writesNothing(() =>
        api('PUT', `/api/v1/models/${id}/`, {
          token: alice,
          raw: `{"name": "m", "aggregator": "avg_values_if_data", "client_agg_results_schema": {"a": ${nestedJson(20_000)}}}`,
        }),
      );
      expect(deep.status).toBe(400);
      expect(JSON.stringify(deep.body)).toMatch(/levels/);
    });

    it('keeps membership out of the model document: 120 concurrent registrations make 120 memberships and leave the model as it was', async () => {
      const { id } = await createModel(alice);
      const modelBefore = await database.db.collection('federated_models').findOne({ _id: id as never });
      const credentials = await Promise.all(Array.from({ length: 120 }, () => register(id)));
      // The same clients registering again, all at once, add nothing.
      await Promise.all(credentials.slice(0, 40).map((credential) => register(id, { client: credential })));
      const modelAfter = await database.db.collection('federated_models').findOne({ _id: id as never });
      expect(modelAfter).toEqual({ ...modelBefore, lastModified: expect.any(Date) });
      expect(modelAfter).not.toHaveProperty('clients');
      const memberships = await database.db.collection('model_clients').find({ federatedModel: id }).toArray();
      expect(memberships).toHaveLength(120);
      expect(new Set(memberships.map((m) => m.client)).size).toBe(120);
      const shown = await api('GET', `/api/v1/models/${id}/`, { token: alice });
      expect([...shown.body.clients].sort()).toEqual(memberships.map((m) => m.client).sort());
      // Membership is what admits a client: every one of them may send, and one removed may not.
      const sent = await api('POST', '/api/v1/model_updates/', { client: credentials[7], body: { federated_model: id, data: [1] } });
      expect(sent.status).toBe(201);
      const removed = sent.body.client as string;
      const kept = shown.body.clients.filter((client: string) => client !== removed);
      expect((await api('PATCH', `/api/v1/models/${id}/`, { token: alice, body: { clients: kept } })).status).toBe(200);
      const refused = await writesNothing(() =>
        api('POST', '/api/v1/model_updates/', { client: credentials[7], body: { federated_model: id, data: [2] } }),
      );
      expect(refused.status).toBe(403);
      expect((await api('GET', `/api/v1/models/${id}/get_latest_model/`, { client: credentials[7] })).status).toBe(403);
    });
  });

  describe('4. updates that could never be aggregated are refused at the door', () => {
    it('refuses values beyond the magnitude bound even when the update_schema allows them, and the round still aggregates', async () => {
      const model = (await createModel(alice, { update_schema: { type: 'array', items: { type: 'number' } } })).id;
      const [a, b, c] = [await register(model), await register(model), await register(model)];
      const poison = await writesNothing(() =>
        api('POST', '/api/v1/model_updates/', { client: c, body: { federated_model: model, data: [1.7e308, 1.7e308, 1.7e308] } }),
      );
      expect(poison.status).toBe(400);
      expect(poison.body['data.0'][0]).toMatch(/at most 1e\+150 in magnitude/);
      for (const [client, data] of [[a, [1, 2, 4]], [b, [5, 2, 3]]] as const) {
        expect((await api('POST', '/api/v1/model_updates/', { client, body: { federated_model: model, data } })).status).toBe(201);
      }
      expect((await api('POST', '/aggregation/run', { body: { model } })).body).toMatchObject({ started: true });
      expect((await api('GET', `/api/v1/models/${model}/get_latest_model/`, { client: a })).body.values).toEqual([3, 2, 3.5]);
    });

    it('refuses a weighted_fedavg update without num_examples (the default) with 400 on num_examples', async () => {
      const model = (await createModel(alice, { aggregator: 'weighted_fedavg' })).id;
      const client = await register(model);
      for (const body of [{ federated_model: model, data: [1, 2, 3] }, { federated_model: model, data: [1, 2, 3], num_examples: 0 }]) {
        const reply = await writesNothing(() => api('POST', '/api/v1/model_updates/', { client, body }));
        expect(reply.status).toBe(400);
        expect(reply.body.num_examples[0]).toMatch(/weighted_fedavg/);
      }
      const accepted = await api('POST', '/api/v1/model_updates/', { client, body: { federated_model: model, data: [1, 2, 3], num_examples: 10 } });
      expect(accepted.status).toBe(201);
    });
  });
});
