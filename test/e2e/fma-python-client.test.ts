import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { FmaPythonWire, PyFloat, pyFloats, sendRaw, type WireReply } from '../helpers/fma-python-client';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { runAggregation } from '../helpers/offline-client';
import { snapshotDatabase } from '../helpers/snapshot';

/**
 * What FMA's own Python client (`fma_connect.WebClient`) puts on the wire, captured from
 * python-requests 2.34.2 (the client's code run against a socket that recorded each request).
 * Host and UUID are the capture's.
 */
const CAPTURED = {
  host: '127.0.0.1:45835',
  uuid: '4b0c2b48-5f0e-4b8e-9a53-3f6a8b1f0c11',
  register:
    'POST /api/v1/models/1/register_client/ HTTP/1.1\r\nHost: 127.0.0.1:45835\r\nUser-Agent: python-requests/2.34.2\r\n' +
    'Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n',
  registerAgain:
    'POST /api/v1/models/1/register_client/ HTTP/1.1\r\nHost: 127.0.0.1:45835\r\nUser-Agent: python-requests/2.34.2\r\n' +
    'Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n' +
    'CLIENT-UUID: 4b0c2b48-5f0e-4b8e-9a53-3f6a8b1f0c11\r\nContent-Length: 0\r\n\r\n',
  sendUpdate:
    'POST /api/v1/model_updates/ HTTP/1.1\r\nHost: 127.0.0.1:45835\r\nUser-Agent: python-requests/2.34.2\r\n' +
    'Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n' +
    'CLIENT-UUID: 4b0c2b48-5f0e-4b8e-9a53-3f6a8b1f0c11\r\nContent-Length: 90\r\nContent-Type: application/json\r\n\r\n' +
    '{"federated_model": 1, "data": [0.5, 1.0, -2.25, 1e-05, "\\u00e9"], "base_aggregate": null}',
  getLatestAggregate:
    'GET /api/v1/models/1/get_latest_aggregate/ HTTP/1.1\r\nHost: 127.0.0.1:45835\r\nUser-Agent: python-requests/2.34.2\r\n' +
    'Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n' +
    'CLIENT-UUID: 4b0c2b48-5f0e-4b8e-9a53-3f6a8b1f0c11\r\n\r\n',
  sendValResults:
    'POST /api/v1/client_aggregate_scores/ HTTP/1.1\r\nHost: 127.0.0.1:45835\r\nUser-Agent: python-requests/2.34.2\r\n' +
    'Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n' +
    'CLIENT-UUID: 4b0c2b48-5f0e-4b8e-9a53-3f6a8b1f0c11\r\nContent-Length: 129\r\nContent-Type: application/json\r\n\r\n' +
    '{"validation_results": {"accuracy": 0.9}, "federated_model": 1, "aggregate": 7, ' +
    '"client": "4b0c2b48-5f0e-4b8e-9a53-3f6a8b1f0c11"}',
};

describe("FMA's Python client (fma_connect.WebClient) unchanged, byte for byte, under serverless-offline", () => {
  it('builds each request exactly as python-requests 2.34.2 sent it for the client', () => {
    const fresh = new FmaPythonWire(`http://${CAPTURED.host}`, 1);
    expect(fresh.bytes(fresh.registerRequest()).toString('latin1')).toBe(CAPTURED.register);
    const known = new FmaPythonWire(`http://${CAPTURED.host}`, 1, CAPTURED.uuid);
    expect(known.bytes(known.registerRequest()).toString('latin1')).toBe(CAPTURED.registerAgain);
    expect(known.bytes(known.sendUpdateRequest([...(pyFloats([0.5, 1, -2.25, 1e-5]) as unknown[]), 'é'])).toString('latin1')).toBe(
      CAPTURED.sendUpdate,
    );
    expect(known.bytes(known.getRequest('get_latest_aggregate')).toString('latin1')).toBe(CAPTURED.getLatestAggregate);
    expect(known.bytes(known.sendValResultsRequest({ accuracy: 0.9 }, 7)).toString('latin1')).toBe(CAPTURED.sendValResults);
  });

  describe('against the service', () => {
    const database = useTestDatabase();
    let offline: RunningOffline;
    let developerToken: string;

    beforeAll(async () => {
      const connector = new MongoMetadataConnector(database.db);
      await connector.updateDatabase();
      developerToken = (await connector.createDeveloper('alice')).token;
      offline = await startOffline({
        env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
        esbuildWorkFolder: '.esbuild/fma-python-client',
        readyTimeoutMs: 280_000,
      });
    }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
    afterAll(() => offline?.stop());

    async function post(path: string, body: unknown, token?: string) {
      const response = await fetch(`${offline.httpUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Token ${token}` }) },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as any };
    }

    async function createModel() {
      const created = await post(
        '/api/v1/models/',
        {
          name: 'fraud',
          aggregator: 'avg_values_if_data',
          requirement: 'all_clients',
          update_schema: { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 },
          client_agg_results_schema: { type: 'object', required: ['accuracy'], properties: { accuracy: { type: 'number' } } },
          initial_model: [0, 0, 0],
        },
        developerToken,
      );
      expect(created.status).toBe(201);
      return created.body as { id: number };
    }

    /** What `response.json()` gives the client, after the status check the client makes. */
    function expectStatus(reply: WireReply, ...statuses: number[]) {
      if (!statuses.includes(reply.status)) throw new Error(`expected ${statuses.join(' or ')}, got ${reply.status}: ${reply.text}`);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      return reply.json;
    }

    it('serves two whole rounds of three clients: register, send_update, check_for_new_model_aggregate, check_for_latest_model, get_current_artifact, send_val_results', async () => {
      const model = await createModel();
      const clients = [0, 1, 2].map(() => new FmaPythonWire(offline.httpUrl, model.id));
      const rounds = [
        { data: [[1, 2, 4], [5, 2, 3], [3, 2, 2]], aggregate: [3, 2, 3] },
        { data: [[3.5, 2.25, 3], [2.5, 1.75, 3], [3, 2, 3.75]], aggregate: [3, 2, 3.25] },
      ];
      let base: number | null = null;
      const aggregates: number[] = [];
      // Each client's public id, as replies show it (its `uuid` is a credential nobody else sees).
      const publicIds = new Map<FmaPythonWire, string>();

      for (const [index, round] of rounds.entries()) {
        for (const [i, client] of clients.entries()) {
          // register: 200 or 201 and `uuid` (201 for a new client; 200 once it sends its CLIENT-UUID).
          const before = client.uuid;
          const registered = expectStatus(await client.register(), index === 0 ? 201 : 200);
          expect(registered.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
          if (before !== null) expect(registered.uuid).toBe(before);

          // send_update: 201, and the client returns the body.
          const sent = expectStatus(await client.sendUpdate(pyFloats(round.data[i]), base), 201);
          expect(sent).toMatchObject({
            id: expect.any(Number),
            federated_model: model.id,
            client: expect.stringMatching(/^[0-9a-f-]{36}$/),
            data: round.data[i],
            base_aggregate: base,
          });
          expect(sent.client).not.toBe(client.uuid);
          if (!publicIds.has(client)) publicIds.set(client, sent.client);
          expect(sent.client).toBe(publicIds.get(client));
        }

        expect(await runAggregation(offline.httpUrl, model.id)).toMatchObject({ final_state: 'Aggregated' });

        for (const client of clients) {
          // check_for_new_model_aggregate: 200, a truthy object with `id` (and the weights as `result`).
          const aggregate = expectStatus(await client.getLatestAggregate(), 200);
          expect(aggregate).toMatchObject({ id: expect.any(Number), federated_model: model.id, result: round.aggregate });
          expect(aggregate.parent).toBe(base);
          if (aggregates[index] === undefined) aggregates[index] = aggregate.id;
          expect(aggregate.id).toBe(aggregates[index]);

          // check_for_latest_model: 200 with `values` and `aggregate` (the client indexes both).
          const latest = expectStatus(await client.getLatestModel(), 200);
          expect(latest).toEqual({ values: round.aggregate, aggregate: aggregate.id });

          // get_current_artifact: 200, the initial artifact (nothing published yet).
          const artifact = expectStatus(await client.getCurrentArtifact(), 200);
          expect(artifact).toMatchObject({ id: expect.any(Number), federated_model: model.id, version: '1.0.0', values: [0, 0, 0] });

          // send_val_results: 201, with FMA's body (federated_model and client included).
          const scored = expectStatus(await client.sendValResults({ accuracy: new PyFloat(0.875) }, aggregate.id), 201);
          expect(scored).toMatchObject({ id: expect.any(Number), aggregate: aggregate.id, client: publicIds.get(client), validation_results: { accuracy: 0.875 } });
        }
        base = aggregates[index]!;
      }

      // The service recorded what the clients did, and nothing else.
      const uuids = clients.map((c) => publicIds.get(c)!).sort();
      const members = await database.db.collection('model_clients').find({ federatedModel: model.id }).toArray();
      expect(members.map((m) => m.client).sort()).toEqual(uuids);
      expect(await database.db.collection('clients').countDocuments()).toBe(3);
      const updates = await database.db.collection('model_updates').find({ federatedModel: model.id }).sort({ _id: 1 }).toArray();
      expect(updates).toHaveLength(6);
      expect(updates.map((u) => u.status)).toEqual([2, 2, 2, 2, 2, 2]);
      expect(updates.map((u) => u.appliedAggregate)).toEqual([...Array(3).fill(aggregates[0]), ...Array(3).fill(aggregates[1])]);
      const scores = await database.db.collection('client_aggregate_scores').find({}).toArray();
      expect(scores.map((s) => `${s.aggregate}/${s.client}`).sort()).toEqual(
        aggregates.flatMap((a) => uuids.map((u) => `${a}/${u}`)).sort(),
      );
    });

    it("refuses send_val_results that names another client (403) or another model (400), writing nothing", async () => {
      const model = await createModel();
      const other = await createModel();
      const [a, b] = [0, 1].map(() => new FmaPythonWire(offline.httpUrl, model.id));
      for (const client of [a!, b!]) expectStatus(await client.register(), 201);
      expectStatus(await a!.sendUpdate(pyFloats([1, 1, 1])), 201);
      expectStatus(await b!.sendUpdate(pyFloats([3, 3, 3])), 201);
      await runAggregation(offline.httpUrl, model.id);
      const aggregate = expectStatus(await a!.getLatestAggregate(), 200);
      const before = await snapshotDatabase(database.db);

      // a sends with b's uuid in the body (its own in the header).
      const impersonating = new FmaPythonWire(offline.httpUrl, model.id, a!.uuid);
      const request = impersonating.sendValResultsRequest({ accuracy: 0.5 }, aggregate.id);
      const asB = { ...request, json: { ...(request.json as object), client: b!.uuid } };
      const forbidden = await sendRaw(offline.httpUrl, impersonating.bytes(asB));
      expect(forbidden.status).toBe(403);
      expect(forbidden.json).toEqual({ detail: expect.stringMatching(/client/) });

      // A client of `model` that names `other` as the aggregate's model.
      const wrongModel = new FmaPythonWire(offline.httpUrl, other.id, a!.uuid);
      const rejected = await sendRaw(offline.httpUrl, wrongModel.bytes(wrongModel.sendValResultsRequest({ accuracy: 0.5 }, aggregate.id)));
      expect(rejected.status).toBe(400);
      expect(rejected.json).toEqual({ federated_model: [expect.stringContaining(String(model.id))] });

      expect(await snapshotDatabase(database.db)).toEqual(before);
    });

    it('answers a register with the CLIENT-UUID of no known client 403 (as DRF), with a detail, and creates nothing', async () => {
      const model = await createModel();
      const stale = new FmaPythonWire(offline.httpUrl, model.id, '0f8fad5b-d9cb-469f-a165-70867728950e');
      const before = await snapshotDatabase(database.db);
      const reply = await stale.register();
      expect(reply.status).toBe(403);
      expect(reply.json).toEqual({ detail: expect.stringMatching(/Register without it/) });
      expect(stale.uuid).toBe('0f8fad5b-d9cb-469f-a165-70867728950e');
      expect(await snapshotDatabase(database.db)).toEqual(before);

      // The way out: a client made without a uuid registers as a new one.
      const fresh = new FmaPythonWire(offline.httpUrl, model.id);
      expect((await fresh.register()).status).toBe(201);
    });
  });
});
