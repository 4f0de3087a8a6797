import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { Context } from 'aws-lambda';
import { handler as runNow } from '../../../functions/aggregation/run-now';
import { handler as router } from '../../../functions/api/router';
import { settleLocalRuns } from '../../../lib/aggregation/start-run';
import { useHandlerDatabase } from '../../helpers/database';
import { handlerApi } from '../../helpers/http-api';

const context = { functionName: 'api', awsRequestId: 'req-1' } as Context;
const committed = JSON.parse(readFileSync(path.resolve(__dirname, '../../../openapi/openapi.json'), 'utf8'));

/**
 * The served description against the service itself (issue #15): the API's real answers, through
 * the router with API Gateway events, conform to the schemas the description gives for their
 * route and status; and what schemathesis found is fixed (405 with Allow, bare JSON scalars).
 */
describe('the API answers as its OpenAPI description says', () => {
  const database = useHandlerDatabase();
  let token: string;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

  beforeAll(async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    token = (await database.connector.createDeveloper('contract')).token;
  });

  const api = handlerApi(() => router);

  const json = (value: unknown) => JSON.stringify(value);

  /** Fails unless the answer's status is documented for the route and its body fits that schema. */
  function expectDocumented(method: string, documentedPath: string, reply: { status: number; body: unknown }) {
    const operation = committed.paths[documentedPath]?.[method.toLowerCase()];
    expect(operation).toBeDefined();
    const response = operation.responses[String(reply.status)];
    expect({ route: `${method} ${documentedPath}`, status: reply.status, documented: response !== undefined }).toEqual({
      route: `${method} ${documentedPath}`,
      status: reply.status,
      documented: true,
    });
    const schema = response.content?.['application/json']?.schema;
    if (schema === undefined) {
      expect(reply.body).toBeUndefined();
      return;
    }
    const validate = ajv.compile({ ...schema, components: committed.components });
    const valid = validate(reply.body);
    expect({ route: `${method} ${documentedPath} ${reply.status}`, errors: valid ? null : validate.errors }).toEqual({
      route: `${method} ${documentedPath} ${reply.status}`,
      errors: null,
    });
  }

  it('serves the committed description at GET /api/v1/openapi.json', async () => {
    const reply = await api('GET', '/api/v1/openapi.json');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual(committed);
    expect(reply.body.openapi).toBe('3.1.1');
  });

  it('answers a whole round, its lists and its errors in the documented shapes', async () => {
    const created = await api('POST', '/api/v1/models/', { token, raw: json({ name: 'contract', aggregator: 'avg_values_if_data', allow_aggregation: true }) });
    expectDocumented('POST', '/api/v1/models/', created);
    const model = created.body.id as number;
    expectDocumented('GET', '/api/v1/models/{id}/get_latest_aggregate/', await api('GET', `/api/v1/models/${model}/get_latest_aggregate/`, { token }));
    expectDocumented('GET', '/api/v1/models/{id}/get_latest_model/', await api('GET', `/api/v1/models/${model}/get_latest_model/`, { token }));

    const registered = await api('POST', `/api/v1/models/${model}/register_client/`);
    expectDocumented('POST', '/api/v1/models/{id}/register_client/', registered);
    const client = registered.body.uuid as string;
    const update = await api('POST', '/api/v1/model_updates/', { client, raw: json({ federated_model: model, data: [1, 2, 3] }), headers: { 'idempotency-key': 'k1' } });
    expectDocumented('POST', '/api/v1/model_updates/', update);
    expectDocumented('GET', '/api/v1/model_updates/', await api('GET', '/api/v1/model_updates/', { client }));
    expectDocumented('GET', '/api/v1/model_updates/', await api('GET', '/api/v1/model_updates/', { token }));
    expectDocumented('GET', '/api/v1/model_updates/{id}/', await api('GET', `/api/v1/model_updates/${update.body.id}/`, { token }));

    // A run (locally in the background; settled before going on) makes the first aggregate.
    await (runNow as unknown as (event: unknown, context: Context) => Promise<unknown>)({ model }, context);
    await settleLocalRuns();
    const aggregates = await api('GET', `/api/v1/model_aggregates/?federated_model=${model}`, { token });
    expectDocumented('GET', '/api/v1/model_aggregates/', aggregates);
    expect(aggregates.body).toHaveLength(1);
    const aggregate = aggregates.body[0].id as number;
    expectDocumented('GET', '/api/v1/model_aggregates/{id}/', await api('GET', `/api/v1/model_aggregates/${aggregate}/`, { client }));
    expectDocumented('GET', '/api/v1/model_aggregates/{id}/weights/', await api('GET', `/api/v1/model_aggregates/${aggregate}/weights/`, { client }));
    expectDocumented('PATCH', '/api/v1/model_aggregates/{id}/', await api('PATCH', `/api/v1/model_aggregates/${aggregate}/`, { token, raw: json({ validation_score: 0.5 }) }));
    expectDocumented('POST', '/api/v1/model_aggregates/{id}/publish_aggregate/', await api('POST', `/api/v1/model_aggregates/${aggregate}/publish_aggregate/`, { token, raw: json({ version: '1.0' }) }));
    expectDocumented('GET', '/api/v1/models/{id}/get_current_artifact/', await api('GET', `/api/v1/models/${model}/get_current_artifact/`, { client }));
    expectDocumented('GET', '/api/v1/models/{id}/get_latest_model/', await api('GET', `/api/v1/models/${model}/get_latest_model/`, { client }));
    expectDocumented('GET', '/api/v1/models/{id}/get_latest_model/weights/', await api('GET', `/api/v1/models/${model}/get_latest_model/weights/`, { client }));
    const score = await api('POST', '/api/v1/client_aggregate_scores/', { client, raw: json({ aggregate, validation_results: { accuracy: 0.9 } }) });
    expectDocumented('POST', '/api/v1/client_aggregate_scores/', score);
    expectDocumented('GET', '/api/v1/client_aggregate_scores/', await api('GET', '/api/v1/client_aggregate_scores/', { token }));
    expectDocumented('GET', '/api/v1/client_aggregate_scores/{id}/', await api('GET', `/api/v1/client_aggregate_scores/${score.body.id}/`, { client }));
    expectDocumented('GET', '/api/v1/models/', await api('GET', '/api/v1/models/', { token }));
    expectDocumented('GET', '/api/v1/models/{id}/', await api('GET', `/api/v1/models/${model}/`, { token }));
    expectDocumented('PATCH', '/api/v1/models/{id}/', await api('PATCH', `/api/v1/models/${model}/`, { token, raw: json({ name: 'renamed' }) }));

    // Errors: each in its documented shape.
    expectDocumented('POST', '/api/v1/models/', await api('POST', '/api/v1/models/', { token, raw: json({ name: '' }) }));
    expectDocumented('GET', '/api/v1/models/', await api('GET', '/api/v1/models/', { token: 'not-a-token' }));
    expectDocumented('POST', '/api/v1/model_updates/', await api('POST', '/api/v1/model_updates/', { token, raw: json({}) }));
    expectDocumented('GET', '/api/v1/models/{id}/', await api('GET', '/api/v1/models/999999/', { token }));
    expectDocumented('POST', '/api/v1/model_updates/', await api('POST', '/api/v1/model_updates/', { client, raw: json({ federated_model: model, data: [9, 9, 9] }), headers: { 'idempotency-key': 'k1' } }));
    expectDocumented('DELETE', '/api/v1/models/{id}/', await api('DELETE', `/api/v1/models/${model}/`, { token }));
  });

  it('answers a method a known path does not take with 405 and Allow, an unknown path with 404', async () => {
    const trace = await api('TRACE', '/api/v1/models/', { token });
    expect(trace.status).toBe(405);
    expect(trace.headers.get('allow')).toBe('POST, GET');
    expect(trace.body).toEqual({ detail: 'Method "TRACE" not allowed.' });
    expect((await api('DELETE', '/api/v1/model_updates/1/', { token })).headers.get('allow')).toBe('GET');
    // A literal path is not taken as another route's parameter: not the update with id "uploads".
    const uploads = await api('GET', '/api/v1/model_updates/uploads/', { token });
    expect({ status: uploads.status, allow: uploads.headers.get('allow') }).toEqual({ status: 405, allow: 'POST' });
    const unknown = await api('GET', '/api/v1/no_such_thing/', { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Not found.' });
  });

  it('refuses a bare JSON scalar or null as a body with 400, as serverless-offline passes them too', async () => {
    for (const body of [false, 0, 'null']) {
      const reply = await api('POST', '/api/v1/models/', { token, raw: body, headers: { 'content-length': '4' } });
      expect({ body, status: reply.status }).toEqual({ body, status: 400 });
    }
    // serverless-offline passes JSON `null` as a null body: its Content-Length tells it from none.
    const nullBody = await api('PATCH', '/api/v1/models/1/', { token, raw: null, headers: { 'content-length': '4' } });
    expect(nullBody.status).toBe(400);
  });
});
