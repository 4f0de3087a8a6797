import { create } from '../../../lib/connector';
import { testMongoUri, useTestDatabase } from '../../helpers/database';

describe('a connector made by the factory from a connection string', () => {
  const database = useTestDatabase();

  it('connects, answers, and closes the client it owns', async () => {
    const connector = create('MongoMetadataConnector', { connection_string: testMongoUri(), database_name: database.name });
    await connector.updateDatabase();
    const model = await connector.createFederatedModel({ name: 'factory', aggregator: 'avg_values_if_data' });
    expect((await connector.pullFederatedModelWId(model.id))?.name).toBe('factory');
    expect(await database.db.collection('federated_models').countDocuments({ _id: model.id as never })).toBe(1);
    await connector.close();
    await expect(connector.pullFederatedModelWId(model.id)).rejects.toThrow();
  });
});
