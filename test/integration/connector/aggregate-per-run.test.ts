import { MongoMetadataConnector } from '../../../lib/connector';
import { closeMongoClient } from '../../../lib/db/client';
import { useTestDatabase } from '../../helpers/database';

describe('an aggregate posted again by the same run', () => {
  const database = useTestDatabase();
  afterAll(() => closeMongoClient());

  it('is the aggregate the run wrote first, not a second one; another run writes its own', async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    const model = await connector.createFederatedModel({ name: 'retry', aggregator: 'avg_values_if_data' });
    const weights = { layout: 'vector', shapes: [[2]], values: new Float64Array([1, 2]) } as const;
    const first = await connector.postNewModelAggregateWeights(model, null, weights, { run: 'run-a' });
    const again = await connector.postNewModelAggregateWeights(model, null, { ...weights, values: new Float64Array([7, 7]) }, { run: 'run-a' });
    expect(again.id).toBe(first.id);
    expect(await connector.pullModelAggregateResults(first)).toEqual([1, 2]);
    const other = await connector.postNewModelAggregateWeights(model, first, weights, { run: 'run-b' });
    expect(other.id).not.toBe(first.id);
    expect(await database.db.collection('model_aggregates').countDocuments({ federatedModel: model.id })).toBe(2);
  });
});
