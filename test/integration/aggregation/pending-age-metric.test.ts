/** @jest-environment-options {"env": {"POWERTOOLS_METRICS_DISABLED": "false"}} */
import type { Context } from 'aws-lambda';
import { UpdateStatus } from '../../../lib/entities';
import { useHandlerDatabase } from '../../helpers/database';
import { captureOutput } from '../../helpers/log-capture';

/**
 * The alarm on rounds that do not happen (issue #27) watches OldestPendingUpdateAge, which the
 * every-minute trigger publishes: how long the oldest claimable update of the models with
 * aggregation allowed has waited, 0 when none waits.
 */
describe('the pending-update age the schedule publishes', () => {
  const database = useHandlerDatabase();

  async function schedule(time: string) {
    const { handler } = await import('../../../functions/aggregation/start-scheduled-runs');
    const output = captureOutput();
    try {
      await handler({ time, source: 'aws.events' }, { functionName: 'startScheduledAggregations', awsRequestId: 'r' } as Context);
    } finally {
      output.restore();
    }
    const [line] = output.json().filter((entry) => entry.OldestPendingUpdateAge !== undefined);
    return line?.OldestPendingUpdateAge as number | undefined;
  }

  it('is 0 with nothing waiting, then the age of the oldest claimable update, whatever its model', async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    const connector = database.connector;
    expect(await schedule('2026-12-06T01:00:00Z')).toBe(0);

    const client = (await connector.createClient()).id;
    // A requirement that is not met: the updates wait, as in a round that does not happen.
    const waiting = await connector.createFederatedModel({
      name: 'waits',
      aggregator: 'avg_values_if_data',
      clients: [client],
      allowAggregation: true,
      requirement: 'require_x_updates',
      requirementArgs: [5],
    });
    const update = await connector.createModelUpdate({ federatedModel: waiting.id, client, data: [1, 2] });
    const createdOn = (await database.db.collection('model_updates').findOne({ _id: update.id as never }))!.createdOn as Date;
    // A model without aggregation allowed is not watched, however old its updates.
    const off = await connector.createFederatedModel({ name: 'off', aggregator: 'avg_values_if_data', clients: [client] });
    await connector.createModelUpdate({ federatedModel: off.id, client, data: [1, 2] });
    await database.db.collection('model_updates').updateOne({ federatedModel: off.id }, { $set: { createdOn: new Date(createdOn.getTime() - 86_400_000) } });

    const later = new Date(createdOn.getTime() + 5_400_000); // an hour and a half on
    expect(await schedule(later.toISOString())).toBe(5_400);
    expect((await database.db.collection('model_updates').findOne({ _id: update.id as never }))!.status).toBe(UpdateStatus.PENDING);
  });
});
