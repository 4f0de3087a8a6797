import { MongoMetadataConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { buildScenario, type Scenario } from '../fixtures/scenario';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { functionKey, offlineClient } from '../helpers/offline-client';
import { snapshotDatabase } from '../helpers/snapshot';

type Transport = 'http' | 'invoke';
const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

type Kind = 'model' | 'aggregate' | 'update';

/**
 * Rewrites one scenario's ids (per kind of entity) and client UUIDs into the other's and masks
 * timestamps, so that the results of the same calls on two identical scenarios compare exactly.
 */
function normalizer(from: Scenario, to: Scenario, extraAggregates: [number, number][] = []) {
  const map = (a: Record<string, { id: number } | number>, b: Record<string, { id: number } | number>) =>
    new Map(
      Object.keys(a).map((key) => {
        const [left, right] = [a[key]!, b[key]!];
        return [typeof left === 'number' ? left : left.id, typeof right === 'number' ? right : right.id];
      }),
    );
  const ids: Record<Kind, Map<number, number>> = {
    model: map(from.models, to.models),
    aggregate: new Map([...map(from.aggregates, to.aggregates), ...extraAggregates]),
    update: map(from.updates, to.updates),
  };
  const clients = new Map(Object.keys(from.clients).map((k) => [from.clients[k as 'c1'], to.clients[k as 'c1']]));
  const FIELD_KIND: Record<string, Kind> = {
    federated_model: 'model',
    parent: 'aggregate',
    base_aggregate: 'aggregate',
    applied_aggregate: 'aggregate',
    claimed: 'update',
    not_claimed: 'update',
    updated: 'update',
    not_updated: 'update',
  };
  const walk = (value: unknown, kind: Kind | undefined, key?: string): unknown => {
    const fieldKind = key === 'id' ? kind : key === undefined ? undefined : FIELD_KIND[key];
    // A model's members that joined together are listed by id, and ids differ between scenarios.
    if (key === 'clients' && Array.isArray(value)) return value.map((item) => walk(item, undefined)).sort();
    if (Array.isArray(value)) return value.map((item) => walk(item, fieldKind ?? kind, fieldKind ? 'id' : undefined));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, kind, k)]));
    }
    if (typeof value === 'string') return DATE.test(value) ? '<date>' : clients.get(value) ?? value;
    if (typeof value === 'number' && fieldKind !== undefined) return ids[fieldKind].get(value) ?? value;
    return value;
  };
  return (results: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(results).map(([operation, value]) => [operation, walk(value, KIND_OF[operation])]));
}

/** The kind of entity each operation returns (its `id` fields are of that kind). */
const KIND_OF: Record<string, Kind | undefined> = {
  pull_federated_model_w_id: 'model',
  pull_latest_model_aggregate: 'aggregate',
  post_new_model_aggregate: 'aggregate',
  pull_model_updates_pending_aggregation: 'update',
  pull_model_updates_ready_for_aggregation: 'update',
  pull_model_updates_registered_for_aggregation: 'update',
};

describe('connector operations as Lambdas under serverless-offline', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let client: ReturnType<typeof offlineClient>;
  let connector: MongoMetadataConnector;
  let viaHttp: Scenario;
  let viaInvoke: Scenario;

  beforeAll(async () => {
    connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    viaHttp = await buildScenario(connector, database.db);
    viaInvoke = await buildScenario(connector, database.db);
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name },
      esbuildWorkFolder: '.esbuild/connector-operations',
      readyTimeoutMs: 280_000,
    });
    client = offlineClient(offline);
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(async () => {
    client?.lambda.destroy();
    await offline?.stop();
  });

  async function call(transport: Transport, operation: string, input: unknown): Promise<unknown> {
    if (transport === 'http') {
      const reply = await client.post(`/connector/${operation}`, input);
      expect({ operation, status: reply.status }).toEqual({ operation, status: 200 });
      return reply.body;
    }
    const reply = await client.invoke(functionKey(operation), input);
    expect({ operation, errorType: reply.errorType }).toEqual({ operation, errorType: undefined });
    return reply.result;
  }

  /** FMA's aggregation, one operation after another, on one scenario. */
  async function runEveryOperation(transport: Transport, s: Scenario) {
    const model = s.models.requireThree.id;
    const results: Record<string, unknown> = {};
    results.update_database = await call(transport, 'update_database', {});
    results.pull_federated_model_w_id = await call(transport, 'pull_federated_model_w_id', { fed_model_id: model });
    results.pull_latest_model_aggregate = await call(transport, 'pull_latest_model_aggregate', { model, include_weights: true });
    results.pull_model_updates_pending_aggregation = await call(transport, 'pull_model_updates_pending_aggregation', { model });
    results.pull_model_updates_ready_for_aggregation = await call(transport, 'pull_model_updates_ready_for_aggregation', {
      model,
      parent_agg: s.aggregates.agg2.id,
    });
    results.pull_model_requirements = await call(transport, 'pull_model_requirements', { model });
    const updates = [s.updates.u1, s.updates.u2];
    results.register_model_updates_for_aggregation = await call(transport, 'register_model_updates_for_aggregation', {
      model_updates: updates,
      run: 'e2e-run',
    });
    results.pull_model_updates_registered_for_aggregation = await call(
      transport,
      'pull_model_updates_registered_for_aggregation',
      { model, run: 'e2e-run', include_weights: true },
    );
    const aggregate = (await call(transport, 'post_new_model_aggregate', {
      model,
      parent_agg: s.aggregates.agg2.id,
      results: [1.5, 2, 2.5],
      run: 'e2e-run',
    })) as { id: number };
    results.post_new_model_aggregate = aggregate;
    results.register_model_update_used_in_aggregate = await call(transport, 'register_model_update_used_in_aggregate', {
      model_updates: updates,
      aggregate: aggregate.id,
      run: 'e2e-run',
    });
    results.register_model_updates_use_in_aggregation_complete = await call(
      transport,
      'register_model_updates_use_in_aggregation_complete',
      { model_updates: updates, is_successful: true, run: 'e2e-run' },
    );
    return { results, aggregate };
  }

  it('answers every operation the same over HTTP and over Lambda Invoke, with FMA\'s results', async () => {
    const http = await runEveryOperation('http', viaHttp);
    const invoke = await runEveryOperation('invoke', viaInvoke);
    expect(normalizer(viaInvoke, viaHttp, [[invoke.aggregate.id, http.aggregate.id]])(invoke.results)).toEqual(
      normalizer(viaHttp, viaHttp)(http.results),
    );

    const s = viaHttp;
    const r = http.results as Record<string, any>;
    expect(r.pull_federated_model_w_id).toMatchObject({
      id: s.models.requireThree.id,
      requirement: 'require_x_updates',
      requirement_args: [3],
      furthest_base_agg: 2,
      allow_aggregation: true,
      created_on: expect.stringMatching(DATE),
    });
    expect(r.pull_latest_model_aggregate).toMatchObject({ id: s.aggregates.agg2.id, level: 1, result: [2, 2, 2] });
    expect(r.pull_model_updates_pending_aggregation.map((u: { id: number }) => u.id)).toEqual([
      s.updates.u1,
      s.updates.u2,
      s.updates.u5,
    ]);
    expect(r.pull_model_updates_pending_aggregation[0]).not.toHaveProperty('data');
    expect(r.pull_model_updates_ready_for_aggregation.map((u: { id: number }) => u.id)).toEqual([s.updates.u1, s.updates.u2]);
    expect(r.pull_model_requirements).toEqual(['require_x_updates', [3]]);
    expect(r.register_model_updates_for_aggregation).toEqual({
      run: 'e2e-run',
      claimed: [s.updates.u1, s.updates.u2],
      not_claimed: [],
    });
    expect(r.pull_model_updates_registered_for_aggregation).toEqual([
      expect.objectContaining({ id: s.updates.u1, status: UpdateStatus.RUNNING, claimed_by: 'e2e-run', data: [1, 2, 3] }),
      expect.objectContaining({ id: s.updates.u2, status: UpdateStatus.RUNNING, claimed_by: 'e2e-run', data: [1, 2, 3] }),
    ]);
    expect(r.post_new_model_aggregate).toMatchObject({ parent: s.aggregates.agg2.id, level: 2, run: 'e2e-run' });
    expect(r.register_model_update_used_in_aggregate).toEqual({ updated: [s.updates.u1, s.updates.u2], not_updated: [] });
    expect(r.register_model_updates_use_in_aggregation_complete).toEqual({
      updated: [s.updates.u1, s.updates.u2],
      not_updated: [],
    });
    for (const scenario of [viaHttp, viaInvoke]) {
      const done = await connector.pullModelUpdates([scenario.updates.u1, scenario.updates.u2]);
      expect(done.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.COMPLETE]);
    }
    expect(await connector.pullModelAggregateResults(http.aggregate.id)).toEqual([1.5, 2, 2.5]);
  });

  describe('bad input', () => {
    const cases: { what: string; operation: string; input: unknown; status: number; errorType: string; field?: string }[] = [
      { what: 'a missing field', operation: 'pull_federated_model_w_id', input: {}, status: 400, errorType: 'ValidationError', field: 'fed_model_id' },
      { what: 'a string id', operation: 'pull_federated_model_w_id', input: { fed_model_id: '1' }, status: 400, errorType: 'ValidationError', field: 'fed_model_id' },
      { what: 'a negative id', operation: 'pull_latest_model_aggregate', input: { model: -3 }, status: 400, errorType: 'ValidationError', field: 'model' },
      { what: 'a non-integer id', operation: 'pull_model_requirements', input: { model: 1.5 }, status: 400, errorType: 'ValidationError', field: 'model' },
      { what: 'an unknown field', operation: 'pull_model_requirements', input: { model: 1, extra: true }, status: 400, errorType: 'ValidationError' },
      { what: 'an id list with a string', operation: 'register_model_updates_for_aggregation', input: { model_updates: [1, 'x'] }, status: 400, errorType: 'ValidationError', field: 'model_updates.1' },
      { what: 'a non-boolean flag', operation: 'register_model_updates_use_in_aggregation_complete', input: { model_updates: [1], is_successful: 'yes' }, status: 400, errorType: 'ValidationError', field: 'is_successful' },
      { what: 'results with NaN-like strings', operation: 'post_new_model_aggregate', input: { model: 1, results: [1, 'NaN'] }, status: 400, errorType: 'ValidationError' },
      { what: 'an unknown model', operation: 'pull_federated_model_w_id', input: { fed_model_id: 999_999 }, status: 404, errorType: 'NotFoundError' },
      { what: 'an unknown model for a list', operation: 'pull_model_updates_pending_aggregation', input: { model: 999_999 }, status: 404, errorType: 'NotFoundError' },
      { what: 'unknown updates to claim', operation: 'register_model_updates_for_aggregation', input: { model_updates: [999_998, 999_999] }, status: 404, errorType: 'NotFoundError' },
      { what: 'an unknown parent aggregate', operation: 'post_new_model_aggregate', input: { model: 1, parent_agg: 999_999, results: [1] }, status: 404, errorType: 'NotFoundError' },
      { what: 'an unknown aggregate to record', operation: 'register_model_update_used_in_aggregate', input: { model_updates: [1], aggregate: 999_999 }, status: 404, errorType: 'NotFoundError' },
    ];

    it.each(cases)('$what: HTTP $status with a JSON body, Invoke throws $errorType, nothing changes', async (c) => {
      const before = await snapshotDatabase(database.db);
      const reply = await client.post(`/connector/${c.operation}`, c.input);
      expect(reply.status).toBe(c.status);
      expect(reply.body).toMatchObject({ error: c.errorType, message: expect.any(String) });
      if (c.field !== undefined) {
        expect((reply.body as { details: { field: string }[] }).details.map((d) => d.field)).toContain(c.field);
      }
      const invoked = await client.invoke(functionKey(c.operation), c.input);
      expect(invoked.errorType).toBe(c.errorType);
      expect(invoked.errorMessage).toEqual((reply.body as { message: string }).message);
      expect(await snapshotDatabase(database.db)).toEqual(before);
    });

    it('malformed JSON is a 400 with a JSON body, not a 500', async () => {
      const before = await snapshotDatabase(database.db);
      const reply = await client.post('/connector/register_model_updates_for_aggregation', '{"model_updates": [1,', true);
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ error: 'ValidationError', message: expect.stringMatching(/not valid JSON/) });
      expect(await snapshotDatabase(database.db)).toEqual(before);
    });

    it('a JSON body that is not an object is a 400', async () => {
      const reply = await client.post('/connector/pull_model_requirements', [1, 2]);
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ error: 'ValidationError' });
    });
  });
});
