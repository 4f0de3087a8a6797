import type { Context } from 'aws-lambda';
import { closeMongoClient } from '../../../lib/db/client';
import { MongoMetadataConnector } from '../../../lib/connector';
import { executionName, settleLocalRuns } from '../../../functions/aggregation/start-run';
import { testMongoUri, useTestDatabase } from '../../helpers/database';

describe('aggregation triggers', () => {
  const database = useTestDatabase();

  beforeAll(() => {
    process.env.MONGODB_URI = testMongoUri();
    process.env.MONGODB_DB_NAME = database.name;
    process.env.AGGREGATION_EXECUTOR = 'local';
  });
  afterAll(() => closeMongoClient());

  it('names executions so that the same trigger always gives the same name', () => {
    expect(executionName(12, 'schedule-202611270401')).toBe('model-12-schedule-202611270401');
    expect(executionName(12, 'update 7/x')).toBe('model-12-update-7-x');
    expect(executionName(1, 'x'.repeat(200))).toHaveLength(80);
  });

  it('the schedule starts one run per model that allows aggregation, named for the minute', async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    const client = (await connector.createClient()).id;
    const on = await connector.createFederatedModel({ name: 'on', aggregator: 'avg_values_if_data', clients: [client], allowAggregation: true });
    const off = await connector.createFederatedModel({ name: 'off', aggregator: 'avg_values_if_data', clients: [client] });
    await connector.createModelUpdate({ federatedModel: on.id, client, data: [2, 4] });
    await connector.createModelUpdate({ federatedModel: off.id, client, data: [2, 4] });

    const { handler } = await import('../../../functions/aggregation/start-scheduled-runs');
    const result = (await handler({ time: '2026-11-27T04:01:00Z', source: 'aws.events' }, {} as Context)) as {
      runs: { model: number; run: string; started: boolean }[];
    };
    expect(result.runs).toEqual([{ model: on.id, run: `model-${on.id}-schedule-202611270401`, started: true }]);
    await settleLocalRuns();
    expect(await connector.pullExecution(result.runs[0]!.run)).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });
    // The same minute delivered again starts nothing (the name is taken, as on Step Functions).
    const again = (await handler({ time: '2026-11-27T04:01:00Z', source: 'aws.events' }, {} as Context)) as { runs: { started: boolean }[] };
    expect(again.runs).toEqual([expect.objectContaining({ started: false })]);
    expect(await connector.pullLatestModelAggregate(on)).not.toBeNull();
    expect(await connector.pullLatestModelAggregate(off)).toBeNull();
  });
});
