import { MongoMetadataConnector } from '../../lib/connector';
import { ValidationError } from '../../lib/errors';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { httpApi } from '../helpers/http-api';
import { runAggregation } from '../helpers/offline-client';
import { snapshotDatabase } from '../helpers/snapshot';

/**
 * Issue #31: every string the database keeps as a string refuses U+0000 (PostgreSQL under FerretDB
 * cannot hold it; MongoDB can), with a 400 that names the field and nothing written, the same on
 * both. Strings kept inside JSON text (scores, JSON Schemas) keep U+0000 as sent.
 */
describe('U+0000 and control characters in stored strings, over real HTTP', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let token: string;
  const api = httpApi(() => offline.httpUrl);

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    token = (await connector.createDeveloper('nul')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/stored-text',
      readyTimeoutMs: 280_000,
    });
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(() => offline?.stop());

  /** A model with one registered client, one update and one aggregate. */
  async function round() {
    const model = await api('POST', '/api/v1/models/', { token, body: { name: 'digits', aggregator: 'avg_values_if_data' } });
    expect(model.status).toBe(201);
    const client = (await api('POST', `/api/v1/models/${model.body.id}/register_client/`)).body.uuid as string;
    const update = await api('POST', '/api/v1/model_updates/', { client, body: { federated_model: model.body.id, data: [1, 2] } });
    expect(update.status).toBe(201);
    expect((await runAggregation(offline.httpUrl, model.body.id)).status).toBe('SUCCEEDED');
    const [aggregate] = (await api('GET', `/api/v1/model_aggregates/?federated_model=${model.body.id}`, { token })).body;
    return { model: model.body.id as number, client, update: update.body.id as number, aggregate: aggregate.id as number };
  }

  /** Sends the request and expects a 400 naming the field, with no change to the database. */
  async function expectRefused(field: string, method: string, path: string, options: Parameters<typeof api>[2]) {
    const before = await snapshotDatabase(database.db);
    const reply = await api(method, path, options);
    expect({ status: reply.status, body: reply.body }).toEqual({ status: 400, body: { [field]: [expect.stringMatching(/U\+0000/)] } });
    expect(await snapshotDatabase(database.db)).toEqual(before);
  }

  it.each([
    ['x\u0000y'],
    ['\u000e\u0000'], // what schemathesis sent
    ['tab\there'],
    ['line\nbreak'],
  ])('refuses a model name %j on POST, PUT and PATCH with 400 on `name`', async (name) => {
    await expectRefused('name', 'POST', '/api/v1/models/', { token, body: { name, aggregator: 'avg_values_if_data' } });
    const model = await api('POST', '/api/v1/models/', { token, body: { name: 'kept', aggregator: 'avg_values_if_data' } });
    await expectRefused('name', 'PUT', `/api/v1/models/${model.body.id}/`, { token, body: { name, aggregator: 'avg_values_if_data' } });
    await expectRefused('name', 'PATCH', `/api/v1/models/${model.body.id}/`, { token, body: { name } });
    expect((await api('GET', `/api/v1/models/${model.body.id}/`, { token })).body.name).toBe('kept');
  });

  it('refuses an artifact version holding U+0000 with 400 on `version`', async () => {
    const { aggregate } = await round();
    await expectRefused('version', 'POST', `/api/v1/model_aggregates/${aggregate}/publish_aggregate/`, { token, body: { version: '1.\u00001' } });
  });

  it('refuses a failure reason holding U+0000 on the operator route with 400 on `reason`', async () => {
    const { update } = await round();
    const before = await snapshotDatabase(database.db);
    const reply = await api('POST', '/connector/register_model_updates_use_in_aggregation_complete', {
      body: { model_updates: [update], is_successful: false, reason: 'disk\u0000full' },
    });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toMatch(/reason/);
    expect(await snapshotDatabase(database.db)).toEqual(before);
  });

  it('answers a `?client=` filter that is no UUID with 400 instead of querying with it', async () => {
    await round();
    const reply = await api('GET', `/api/v1/client_aggregate_scores/?client=${encodeURIComponent('a\u0000b')}`, { token });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ client: [expect.stringMatching(/Select a valid choice/)] });
  });

  it('keeps U+0000 inside JSON values as sent: scores, JSON Schemas, requirement arguments', async () => {
    const { aggregate, client } = await round();
    const results = { 'acc\u0000uracy': 0.5, note: 'a\u0000b' };
    const score = await api('POST', '/api/v1/client_aggregate_scores/', { client, body: { aggregate, validation_results: results } });
    expect(score.status).toBe(201);
    expect((await api('GET', `/api/v1/client_aggregate_scores/${score.body.id}/`, { client })).body.validation_results).toEqual(results);

    const schema = { type: 'array', description: 'n\u0000l' };
    const model = await api('POST', '/api/v1/models/', { token, body: { name: 'json', aggregator: 'avg_values_if_data', update_schema: schema } });
    expect(model.status).toBe(201);
    expect((await api('GET', `/api/v1/models/${model.body.id}/`, { token })).body.update_schema).toEqual(schema);
  });

  it('gives library users a ValidationError for the same strings', async () => {
    const connector = new MongoMetadataConnector(database.db);
    await expect(connector.createDeveloper('a\u0000b')).rejects.toThrow(ValidationError);
    await expect(connector.createFederatedModel({ name: 'a\u0000b', aggregator: 'avg_values_if_data' })).rejects.toThrow(ValidationError);
  });
});
