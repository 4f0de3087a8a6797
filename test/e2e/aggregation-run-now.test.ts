import { MongoMetadataConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { offlineClient, waitForRun } from '../helpers/offline-client';

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
});
