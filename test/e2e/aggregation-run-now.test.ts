import { MongoMetadataConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { httpApi } from '../helpers/http-api';
import { offlineClient, waitForRun } from '../helpers/offline-client';
import { AGGREGATED_RUN_STATES } from '../helpers/run-states';

describe('POST /aggregation/run under serverless-offline (the local way to aggregate now)', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let client: ReturnType<typeof offlineClient>;

  beforeAll(async () => {
    await new MongoMetadataConnector(database.db).updateDatabase();
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/aggregation-run-now',
      readyTimeoutMs: 280_000,
    });
    client = offlineClient(offline);
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(async () => {
    client?.lambda.destroy();
    await offline?.stop();
  });

  it('starts the run in the background, answers at once with its name, and tells how it ended at GET /aggregation/runs/{name}', async () => {
    const connector = new MongoMetadataConnector(database.db);
    const [a, b] = [(await connector.createClient()).id, (await connector.createClient()).id];
    const model = await connector.createFederatedModel({ name: 'now', aggregator: 'avg_values_if_data', clients: [a, b] });
    const u1 = await connector.createModelUpdate({ federatedModel: model.id, client: a, data: [1, 2, 4] });
    const u2 = await connector.createModelUpdate({ federatedModel: model.id, client: b, data: [5, 2, 3] });

    const reply = await client.post('/aggregation/run', { model: model.id });
    expect(reply.status).toBe(200);
    const { run } = reply.body as { run: string };
    expect(reply.body).toEqual({ model: model.id, started: true, run: expect.stringMatching(/^model-/), status_url: `/aggregation/runs/${run}` });
    expect(await waitForRun(offline.httpUrl, run)).toMatchObject({ name: run, model: model.id, status: 'SUCCEEDED', final_state: 'Aggregated', error: null });

    const aggregate = await connector.pullLatestModelAggregate(model);
    expect(await connector.pullModelAggregateResults(aggregate!)).toEqual([3, 2, 3.5]);
    const updates = await connector.pullModelUpdates([u1.id, u2.id]);
    expect(updates.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.COMPLETE]);
  });

  it('answers 404 for a model that does not exist, and for a run nobody started', async () => {
    const reply = await client.post('/aggregation/run', { model: 424_242 });
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ error: 'NotFoundError' });
    const unknown = await fetch(`${offline.httpUrl}/aggregation/runs/model-1-manual-nobody`);
    expect(unknown.status).toBe(404);
  });

  it('answers while the run it started is still going, and the run goes on to the end after the call', async () => {
    const connector = new MongoMetadataConnector(database.db);
    const clients = await Promise.all(Array.from({ length: 40 }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'slow', aggregator: 'avg_values_if_data', clients });
    await connector.createModelUpdates(clients.map((client, i) => ({ federatedModel: model.id, client, data: Array.from({ length: 50_000 }, () => i) })));
    const reply = await client.post('/aggregation/run', { model: model.id });
    const { run } = reply.body as { run: string };
    // The call answered while the run was still going (it reads 40 objects of 400 kB first).
    const rightAfter = (await (await fetch(`${offline.httpUrl}/aggregation/runs/${run}`)).json()) as { status: string; stopped_at: string | null };
    expect(rightAfter).toMatchObject({ status: 'RUNNING', stopped_at: null });
    const ended = await waitForRun(offline.httpUrl, run);
    expect(ended).toMatchObject({ status: 'SUCCEEDED', final_state: 'Aggregated' });
    const aggregate = await connector.pullLatestModelAggregate(model);
    expect((await connector.pullModelAggregateWeights(aggregate!))!.values[0]).toBe(19.5);
  });

  describe("the model's developer reads its runs at GET /api/v1/models/{id}/runs/", () => {
    const api = httpApi(() => offline.httpUrl);
    let alice: { id: string; token: string };
    let bob: { id: string; token: string };
    let member: string;
    let modelId: number;
    let aggregated: string;
    let idle: string;

    async function startAndWait(model: number): Promise<string> {
      const reply = await client.post('/aggregation/run', { model });
      const { run } = reply.body as { run: string };
      await waitForRun(offline.httpUrl, run);
      return run;
    }

    beforeAll(async () => {
      const connector = new MongoMetadataConnector(database.db);
      alice = await connector.createDeveloper('alice');
      bob = await connector.createDeveloper('bob');
      const registered = await connector.createClient();
      const other = (await connector.createClient()).id;
      member = registered.credential;
      const model = await connector.createFederatedModel({ name: 'watched', developer: alice.id, aggregator: 'avg_values_if_data', clients: [registered.id, other] });
      modelId = model.id;
      await connector.createModelUpdate({ federatedModel: model.id, client: registered.id, data: [1, 2] });
      await connector.createModelUpdate({ federatedModel: model.id, client: other, data: [3, 4] });
      aggregated = await startAndWait(model.id);
      idle = await startAndWait(model.id);
    }, 180_000);

    it('lists them newest first with trigger, start, duration, final state and updates claimed, and shows each run\'s states in order with their durations', async () => {
      const list = await api('GET', `/api/v1/models/${modelId}/runs/`, { token: alice.token });
      expect(list.status).toBe(200);
      expect(list.headers.get('x-total-count')).toBe('2');
      const aggregate = await new MongoMetadataConnector(database.db).pullLatestModelAggregate(modelId);
      expect(list.body).toEqual([
        expect.objectContaining({ name: idle, model: modelId, trigger: 'manual', status: 'SUCCEEDED', final_state: 'NothingToAggregate', claimed: null, aggregate: null, error: null }),
        expect.objectContaining({ name: aggregated, trigger: 'manual', status: 'SUCCEEDED', final_state: 'Aggregated', claimed: 2, aggregate: aggregate!.id, error: null }),
      ]);
      for (const run of list.body as { started_at: string; stopped_at: string; duration_ms: number; states?: unknown }[]) {
        expect(run.duration_ms).toBe(Date.parse(run.stopped_at) - Date.parse(run.started_at));
        expect(run.states).toBeUndefined();
      }

      const one = await api('GET', `/api/v1/models/${modelId}/runs/${aggregated}/`, { token: alice.token });
      expect(one.status).toBe(200);
      const states = one.body.states as { state: string; entered_at: string; exited_at: string; duration_ms: number; error: unknown }[];
      expect(states.map((entry) => entry.state)).toEqual([...AGGREGATED_RUN_STATES]);
      let previousExit = Date.parse(one.body.started_at);
      for (const entry of states) {
        expect(entry.duration_ms).toBe(Date.parse(entry.exited_at) - Date.parse(entry.entered_at));
        expect(Date.parse(entry.entered_at)).toBeGreaterThanOrEqual(previousExit);
        expect(entry.error).toBeNull();
        previousExit = Date.parse(entry.exited_at);
      }
      expect(one.body.stopped_at).toBe(states.at(-1)!.exited_at);
      expect(one.body.states_dropped).toBe(0);

      // What is running now: nothing; a filter it does not know is a 400 that names it.
      const running = await api('GET', `/api/v1/models/${modelId}/runs/?status=RUNNING`, { token: alice.token });
      expect([running.status, running.body, running.headers.get('x-total-count')]).toEqual([200, [], '0']);
      const succeeded = await api('GET', `/api/v1/models/${modelId}/runs/?status=SUCCEEDED&page_size=1`, { token: alice.token });
      expect([succeeded.headers.get('x-total-count'), succeeded.body.map((run: { name: string }) => run.name)]).toEqual(['2', [idle]]);
      expect(succeeded.headers.get('link')).toContain('rel="next"');
      const bogus = await api('GET', `/api/v1/models/${modelId}/runs/?status=DONE`, { token: alice.token });
      expect(bogus.status).toBe(400);
      expect(Object.keys(bogus.body)).toEqual(['status']);
    });

    it('tells why a run failed: the state, the error and its message', async () => {
      const connector = new MongoMetadataConnector(database.db);
      const c = await connector.createClient();
      const model = await connector.createFederatedModel({ name: 'broken', developer: alice.id, aggregator: 'avg_values_if_data', clients: [c.id] });
      await connector.createModelUpdate({ federatedModel: model.id, client: c.id, data: [1] });
      // Written around the API's checks, as a migration could: the run cannot evaluate it.
      await database.db.collection('federated_models').updateOne({ _id: model.id as never }, { $set: { requirement: 'quorum_of_owls' } });
      const failed = await startAndWait(model.id);
      const one = await api('GET', `/api/v1/models/${model.id}/runs/${failed}/`, { token: alice.token });
      expect(one.body).toMatchObject({
        status: 'FAILED',
        final_state: 'AggregationFailed',
        claimed: null,
        error: { state: 'CheckRequirement', error: 'RequirementError', cause: expect.stringContaining('quorum_of_owls') },
      });
      expect(one.body.states.map((entry: { state: string; error: { error: string } | null }) => [entry.state, entry.error?.error ?? null])).toEqual([
        ['AcquireLease', null],
        ['PullModel', null],
        ['PullLatestAggregate', null],
        ['CheckRequirement', 'RequirementError'],
        ['ReleaseLeaseAndFail', null],
      ]);
      const listed = await api('GET', `/api/v1/models/${model.id}/runs/?status=FAILED`, { token: alice.token });
      expect(listed.body.map((run: { name: string; error: { error: string } }) => [run.name, run.error.error])).toEqual([[failed, 'RequirementError']]);
    });

    it("shows the runs to the model's owner only: another developer gets 404, a client 403, no credentials 401", async () => {
      const paths = [`/api/v1/models/${modelId}/runs/`, `/api/v1/models/${modelId}/runs/${aggregated}/`];
      for (const path of paths) {
        const asBob = await api('GET', path, { token: bob.token });
        expect([path, asBob.status, asBob.body]).toEqual([path, 404, { detail: 'Not found.' }]);
        const asClient = await api('GET', path, { client: member });
        expect([path, asClient.status]).toEqual([path, 403]);
        const anonymous = await api('GET', path);
        expect([path, anonymous.status]).toEqual([path, 401]);
        const wrongToken = await api('GET', path, { token: 'not-a-token' });
        expect([path, wrongToken.status]).toEqual([path, 401]);
      }
      // A run of this model asked under another of Alice's models, and a name nobody ran: 404.
      const connector = new MongoMetadataConnector(database.db);
      const another = await connector.createFederatedModel({ name: 'another', developer: alice.id, aggregator: 'avg_values_if_data' });
      expect((await api('GET', `/api/v1/models/${another.id}/runs/${aggregated}/`, { token: alice.token })).status).toBe(404);
      expect((await api('GET', `/api/v1/models/${modelId}/runs/model-${modelId}-manual-never/`, { token: alice.token })).status).toBe(404);
      expect((await api('GET', `/api/v1/models/${another.id}/runs/`, { token: alice.token })).body).toEqual([]);
    });
  });
});
