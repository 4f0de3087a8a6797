import { MongoMetadataConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { offlineClient } from '../helpers/offline-client';

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

  it('runs the state machine for the model and answers how it ended', async () => {
    const connector = new MongoMetadataConnector(database.db);
    const [a, b] = [(await connector.createClient()).id, (await connector.createClient()).id];
    const model = await connector.createFederatedModel({ name: 'now', aggregator: 'avg_values_if_data', clients: [a, b] });
    const u1 = await connector.createModelUpdate({ federatedModel: model.id, client: a, data: [1, 2, 4] });
    const u2 = await connector.createModelUpdate({ federatedModel: model.id, client: b, data: [5, 2, 3] });

    const reply = await client.post('/aggregation/run', { model: model.id });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ model: model.id, started: true, finalState: 'Aggregated', run: expect.stringMatching(/^model-/) });

    const aggregate = await connector.pullLatestModelAggregate(model);
    expect(await connector.pullModelAggregateResults(aggregate!)).toEqual([3, 2, 3.5]);
    const updates = await connector.pullModelUpdates([u1.id, u2.id]);
    expect(updates.map((u) => u.status)).toEqual([UpdateStatus.COMPLETE, UpdateStatus.COMPLETE]);
  });

  it('answers 404 for a model that does not exist', async () => {
    const reply = await client.post('/aggregation/run', { model: 424_242 });
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ error: 'NotFoundError' });
  });
});
