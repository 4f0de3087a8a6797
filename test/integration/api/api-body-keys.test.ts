import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { handler as createClientAggregateScore } from '../../../functions/api/create-client-aggregate-score';
import { handler as createModel } from '../../../functions/api/create-model';
import { handler as createModelUpdate } from '../../../functions/api/create-model-update';
import { handler as patchModelAggregate } from '../../../functions/api/patch-model-aggregate';
import { handler as publishAggregate } from '../../../functions/api/publish-aggregate';
import { handler as registerClient } from '../../../functions/api/register-client';
import { MongoMetadataConnector } from '../../../lib/connector';
import { weightsToJson } from '../../../lib/weights';
import httpEvent from '../../fixtures/events/http-api-post.json';
import { useHandlerDatabase } from '../../helpers/database';
import { snapshotDatabase } from '../../helpers/snapshot';

/**
 * The body rule of the routes that mirror FMA's REST API, route by route: a key the route does
 * not read is ignored (as Django REST Framework does); a key the caller may send but not choose
 * must agree with what the server knows (`client`/`developer`: the caller, else 403;
 * `federated_model` of a score: the aggregate's model, else 400); a refused request writes
 * nothing. Each route's wrapped handler is called with an API Gateway event, no server between;
 * the database is the test database, since "writes nothing" is the database's to say.
 */
type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

const context = { functionName: 'api', awsRequestId: 'req-1' } as Context;

interface Call {
  body?: unknown;
  client?: string;
  token?: string;
  id?: number;
  headers?: Record<string, string>;
}

async function call(handler: unknown, method: string, path: string, options: Call = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', host: 'api.example.com', ...options.headers };
  if (options.client !== undefined) headers['client-uuid'] = options.client;
  if (options.token !== undefined) headers.authorization = `Token ${options.token}`;
  const event = {
    ...httpEvent,
    routeKey: 'ANY /api/v1/{proxy+}',
    rawPath: path,
    headers,
    requestContext: { ...httpEvent.requestContext, routeKey: 'ANY /api/v1/{proxy+}', http: { ...httpEvent.requestContext.http, method, path } },
    pathParameters: options.id === undefined ? undefined : { id: String(options.id) },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  } as unknown as APIGatewayProxyEventV2;
  const response = (await (handler as Handler)(event, context)) as APIGatewayProxyStructuredResultV2;
  return { status: response.statusCode!, body: response.body ? (JSON.parse(response.body) as any) : undefined };
}

describe('API bodies: keys a route does not read are ignored, keys the caller cannot choose must agree', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  beforeAll(async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    connector = database.connector;
    alice = await connector.createDeveloper('alice');
    bob = await connector.createDeveloper('bob');
  });

  /**
   * A model of alice's with two clients and one aggregate. `a` and `b` are the clients'
   * credentials (what they send as CLIENT-UUID); `aId` and `bId` their public ids.
   */
  async function scenario(joinSecret: string | null = null) {
    const model = await connector.createFederatedModel({ name: 'm', developer: alice.id, aggregator: 'avg_values_if_data', joinSecret });
    const [a, b] = [await connector.createClient(), await connector.createClient()];
    await connector.addClientsToModel(model.id, [a!.id, b!.id]);
    const aggregate = await connector.postNewModelAggregate(model.id, null, [3, 2, 3]);
    return { model, a: a!.credential, b: b!.credential, aId: a!.id, bId: b!.id, aggregate };
  }

  /** Runs the request and asserts that it changed nothing in the database. */
  async function writesNothing(request: () => Promise<{ status: number; body: any }>) {
    const before = await snapshotDatabase(database.db);
    const reply = await request();
    expect(await snapshotDatabase(database.db)).toEqual(before);
    return reply;
  }

  describe('POST /api/v1/models/ (reads name, aggregator, ..., clients, initial_model, join_secret; developer must agree)', () => {
    const model = { name: 'fraud', aggregator: 'avg_values_if_data' };

    it('ignores keys it does not read, such as id, current_artifact and scheduler, and reads clients (existing ids)', async () => {
      const client = await connector.createClient();
      const reply = await call(createModel, 'POST', '/api/v1/models/', {
        token: alice.token,
        body: { ...model, id: 999_999, clients: [client.id], current_artifact: 77, scheduler: 3, created_on: '2020-01-01T00:00:00Z' },
      });
      expect(reply.status).toBe(201);
      expect(reply.body).toMatchObject({ name: 'fraud', developer: alice.id, clients: [client.id], current_artifact: null });
      expect(reply.body.id).not.toBe(999_999);
      expect(reply.body.created_on).not.toBe('2020-01-01T00:00:00.000Z');
    });

    it('accepts a developer that is the caller', async () => {
      const reply = await call(createModel, 'POST', '/api/v1/models/', { token: alice.token, body: { ...model, developer: alice.id } });
      expect(reply).toMatchObject({ status: 201, body: { developer: alice.id } });
    });

    it('refuses a developer that is not the caller with 403, writing nothing', async () => {
      const reply = await writesNothing(() =>
        call(createModel, 'POST', '/api/v1/models/', { token: alice.token, body: { ...model, developer: bob.id } }),
      );
      expect(reply).toEqual({ status: 403, body: { detail: expect.stringMatching(/"developer"/) } });
    });

    it('still checks the keys it reads', async () => {
      const reply = await writesNothing(() =>
        call(createModel, 'POST', '/api/v1/models/', { token: alice.token, body: { ...model, allow_aggregation: 'yes', note: 1 } }),
      );
      expect(reply).toEqual({ status: 400, body: { allow_aggregation: [expect.any(String)] } });
    });
  });

  describe('POST /api/v1/models/{id}/register_client/ (reads join_secret only)', () => {
    it('ignores keys it does not read: a uuid in the body is not adopted', async () => {
      const { model, a } = await scenario();
      const reply = await call(registerClient, 'POST', `/api/v1/models/${model.id}/register_client/`, {
        id: model.id,
        body: { uuid: a, clients: [a], note: 'x' },
      });
      expect(reply.status).toBe(201);
      expect(reply.body).toEqual({ uuid: expect.any(String) });
      expect(reply.body.uuid).not.toBe(a);
    });

    it('reads join_secret beside ignored keys', async () => {
      const { model } = await scenario('open sesame');
      const path = `/api/v1/models/${model.id}/register_client/`;
      const refused = await writesNothing(() => call(registerClient, 'POST', path, { id: model.id, body: { secret: 'open sesame' } }));
      expect(refused).toEqual({ status: 403, body: { detail: expect.any(String) } });
      const admitted = await call(registerClient, 'POST', path, { id: model.id, body: { join_secret: 'open sesame', note: 'x' } });
      expect(admitted.status).toBe(201);
    });

    it('takes an empty CLIENT-UUID header for none, as FMA did', async () => {
      const { model } = await scenario();
      const reply = await call(registerClient, 'POST', `/api/v1/models/${model.id}/register_client/`, { id: model.id, client: '' });
      expect(reply.status).toBe(201);
    });

    it('answers a CLIENT-UUID of no known client 403 (as DRF) with a detail, creating nothing', async () => {
      const { model } = await scenario();
      const reply = await writesNothing(() =>
        call(registerClient, 'POST', `/api/v1/models/${model.id}/register_client/`, {
          id: model.id,
          client: '0f8fad5b-d9cb-469f-a165-70867728950e',
        }),
      );
      expect(reply).toEqual({ status: 403, body: { detail: expect.stringMatching(/Register without it/) } });
    });
  });

  describe('POST /api/v1/model_updates/ (reads federated_model, data, base_aggregate, num_examples; client must agree)', () => {
    it("accepts FMA's body and ignores keys it does not read, such as status, applied_aggregate and id", async () => {
      const { model, a, aId } = await scenario();
      const reply = await call(createModelUpdate, 'POST', '/api/v1/model_updates/', {
        client: a,
        body: { federated_model: model.id, data: [1, 2, 3], base_aggregate: null, status: 2, applied_aggregate: 1, id: 999_999 },
      });
      expect(reply.status).toBe(201);
      expect(reply.body).not.toHaveProperty('status');
      const [stored] = await connector.pullModelUpdates([reply.body.id]);
      expect(stored).toMatchObject({ id: reply.body.id, status: 0, appliedAggregate: null, client: aId });
      expect(reply.body.id).not.toBe(999_999);
    });

    it('accepts a client that is the caller, named by its credential (as FMA sends it) or its public id', async () => {
      const { model, a, aId } = await scenario();
      for (const named of [a, aId]) {
        const reply = await call(createModelUpdate, 'POST', '/api/v1/model_updates/', {
          client: a,
          body: { federated_model: model.id, data: [1, 2, 3], base_aggregate: null, client: named },
        });
        expect(reply).toMatchObject({ status: 201, body: { client: aId } });
      }
    });

    it.each([
      ['another client of the model', (s: { b: string }) => s.b],
      ['null', () => null],
      ['not a uuid', () => 'me'],
    ])('refuses a client that is %s with 403, writing nothing', async (_, client) => {
      const s = await scenario();
      const reply = await writesNothing(() =>
        call(createModelUpdate, 'POST', '/api/v1/model_updates/', {
          client: s.a,
          body: { federated_model: s.model.id, data: [1, 2, 3], base_aggregate: null, client: client(s) },
        }),
      );
      expect(reply).toEqual({ status: 403, body: { detail: expect.stringMatching(/"client"/) } });
    });

    it('answers data null (send_update(None)) with 400 on data, writing nothing', async () => {
      const { model, a } = await scenario();
      const reply = await writesNothing(() =>
        call(createModelUpdate, 'POST', '/api/v1/model_updates/', { client: a, body: { federated_model: model.id, data: null, base_aggregate: null } }),
      );
      expect(reply).toEqual({ status: 400, body: { data: [expect.any(String)] } });
    });

    it('still checks the keys it reads', async () => {
      const { a } = await scenario();
      const reply = await writesNothing(() =>
        call(createModelUpdate, 'POST', '/api/v1/model_updates/', { client: a, body: { federated_model: 'one', data: [1], note: 1 } }),
      );
      expect(reply).toEqual({ status: 400, body: { federated_model: [expect.any(String)] } });
    });
  });

  describe('PATCH /api/v1/model_aggregates/{id}/ (reads validation_score)', () => {
    it('sets validation_score and ignores keys it does not read, such as result, parent and federated_model', async () => {
      const { aggregate } = await scenario();
      const other = await scenario();
      const reply = await call(patchModelAggregate, 'PATCH', `/api/v1/model_aggregates/${aggregate.id}/`, {
        token: alice.token,
        id: aggregate.id,
        body: { validation_score: 0.5, result: [9, 9, 9], parent: other.aggregate.id, federated_model: other.model.id, level: 7, id: 1 },
      });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ id: aggregate.id, validation_score: 0.5, federated_model: aggregate.federatedModel, parent: null, level: 0 });
      expect(await connector.pullModelAggregate(aggregate.id)).toEqual({ ...aggregate, validationScore: 0.5 });
      expect(await connector.pullModelAggregateResults(aggregate.id)).toEqual([3, 2, 3]);
    });

    it('changes nothing when validation_score is not sent (a partial update)', async () => {
      const { aggregate } = await scenario();
      const reply = await writesNothing(() =>
        call(patchModelAggregate, 'PATCH', `/api/v1/model_aggregates/${aggregate.id}/`, {
          token: alice.token,
          id: aggregate.id,
          body: { note: 'x' },
        }),
      );
      expect(reply).toMatchObject({ status: 200, body: { id: aggregate.id, validation_score: null } });
    });
  });

  describe('POST /api/v1/model_aggregates/{id}/publish_aggregate/ (reads version)', () => {
    it("publishes the aggregate's weights to its model, ignoring keys it does not read, such as values and federated_model", async () => {
      const { model, aggregate } = await scenario();
      const other = await scenario();
      const reply = await call(publishAggregate, 'POST', `/api/v1/model_aggregates/${aggregate.id}/publish_aggregate/`, {
        token: alice.token,
        id: aggregate.id,
        body: { version: '2.0.0', values: [9, 9, 9], federated_model: other.model.id },
      });
      expect(reply).toMatchObject({ status: 201, body: { version: '2.0.0', federated_model: model.id } });
      expect(weightsToJson((await connector.pullModelArtifact(reply.body.id))!.values)).toEqual([3, 2, 3]);
      expect((await connector.pullFederatedModelWId(other.model.id))!.currentArtifact).toBeNull();
    });
  });

  describe('POST /api/v1/client_aggregate_scores/ (reads aggregate, validation_results; client and federated_model must agree)', () => {
    it("accepts FMA's body (client and federated_model agreeing) and ignores keys it does not read", async () => {
      const { model, a, aId, aggregate } = await scenario();
      const reply = await call(createClientAggregateScore, 'POST', '/api/v1/client_aggregate_scores/', {
        client: a,
        body: { validation_results: { accuracy: 0.9 }, federated_model: model.id, aggregate: aggregate.id, client: a, id: 999_999, note: 1 },
      });
      expect(reply).toMatchObject({ status: 201, body: { aggregate: aggregate.id, client: aId, validation_results: { accuracy: 0.9 } } });
      expect(reply.body.id).not.toBe(999_999);
    });

    it('accepts a body without client and federated_model', async () => {
      const { a, aggregate } = await scenario();
      const reply = await call(createClientAggregateScore, 'POST', '/api/v1/client_aggregate_scores/', {
        client: a,
        body: { validation_results: { accuracy: 0.9 }, aggregate: aggregate.id },
      });
      expect(reply.status).toBe(201);
    });

    it('refuses a client that is not the caller with 403, writing nothing', async () => {
      const { model, a, b, aggregate } = await scenario();
      const reply = await writesNothing(() =>
        call(createClientAggregateScore, 'POST', '/api/v1/client_aggregate_scores/', {
          client: a,
          body: { validation_results: { accuracy: 0.9 }, federated_model: model.id, aggregate: aggregate.id, client: b },
        }),
      );
      expect(reply).toEqual({ status: 403, body: { detail: expect.stringMatching(/"client"/) } });
    });

    it.each([
      ['another model', (s: { other: number }) => s.other],
      ['null', () => null],
      ['a string of the right id', (s: { own: number }) => String(s.own)],
    ])("refuses a federated_model that is %s with 400, writing nothing", async (_, federatedModel) => {
      const { model, a, aggregate } = await scenario();
      const other = await scenario();
      const reply = await writesNothing(() =>
        call(createClientAggregateScore, 'POST', '/api/v1/client_aggregate_scores/', {
          client: a,
          body: {
            validation_results: { accuracy: 0.9 },
            federated_model: federatedModel({ other: other.model.id, own: model.id }),
            aggregate: aggregate.id,
            client: a,
          },
        }),
      );
      expect(reply).toEqual({ status: 400, body: { federated_model: [`must be the aggregate's model (${model.id}) or be left out`] } });
    });
  });
});
