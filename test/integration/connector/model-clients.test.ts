import { MongoMetadataConnector } from '../../../lib/connector';
import { closeMongoClient } from '../../../lib/db/client';
import { useTestDatabase } from '../../helpers/database';

/** Membership kept as one document per (model, client) in `model_clients` (issue #17, item 5). */
describe('model membership', () => {
  const database = useTestDatabase();
  let connector: MongoMetadataConnector;

  beforeAll(async () => {
    connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
  });
  afterAll(() => closeMongoClient());

  const newClients = (n: number) => Promise.all(Array.from({ length: n }, async () => (await connector.createClient()).id));

  it('refuses a second membership of the same client at the database (unique index), and adding twice is a no-op', async () => {
    const [a, b] = await newClients(2);
    const model = await connector.createFederatedModel({ name: 'm', aggregator: 'avg_values_if_data', clients: [a!, a!] });
    await Promise.all([connector.addClientsToModel(model, [a!, b!]), connector.addClientsToModel(model, [b!, a!])]);
    expect(await connector.pullModelClients(model)).toEqual([a, b]);
    await expect(
      database.db.collection('model_clients').insertOne({ _id: 'other-id' as never, federatedModel: model.id, client: a, joinedOn: new Date() }),
    ).rejects.toMatchObject({ code: 11000 });
    expect(await connector.isModelClient(model, a!)).toBe(true);
    expect(await connector.pullModelsOfClient(a!)).toEqual([model.id]);
  });

  it('leaves the updates of a removed member out of what is pending, ready and claimable, and counts them again when it returns', async () => {
    const [a, b] = await newClients(2);
    const model = await connector.createFederatedModel({ name: 'm', aggregator: 'avg_values_if_data', clients: [a!, b!] });
    const fromA = await connector.createModelUpdate({ federatedModel: model.id, client: a!, data: [1] });
    const fromB = await connector.createModelUpdate({ federatedModel: model.id, client: b!, data: [3] });
    await connector.setModelClients(model, [b!]);
    expect(await connector.isModelClient(model, a!)).toBe(false);
    expect((await connector.pullModelUpdatesPendingAggregation(model)).map((u) => u.id)).toEqual([fromB.id]);
    expect((await connector.pullModelUpdatesReadyForAggregation(model, null)).map((u) => u.id)).toEqual([fromB.id]);
    await expect(connector.createModelUpdate({ federatedModel: model.id, client: a!, data: [2] })).rejects.toMatchObject({ name: 'ForbiddenError' });
    await connector.setModelClients(model, [a!, b!]);
    expect((await connector.pullModelUpdatesPendingAggregation(model)).map((u) => u.id)).toEqual([fromA.id, fromB.id]);
  });

  it('lists the members of many models in one call, and deletes them with their model', async () => {
    const clients = await newClients(3);
    const first = await connector.createFederatedModel({ name: 'first', aggregator: 'avg_values_if_data', clients });
    const second = await connector.createFederatedModel({ name: 'second', aggregator: 'avg_values_if_data', clients: [clients[2]!] });
    const members = await connector.pullClientsOfModels([first.id, second.id, 999_999]);
    // Clients that joined together are listed by id.
    expect(members).toEqual(new Map([[first.id, [...clients].sort()], [second.id, [clients[2]]], [999_999, []]]));
    await connector.deleteFederatedModel(first);
    expect(await database.db.collection('model_clients').countDocuments({ federatedModel: first.id })).toBe(0);
    expect(await connector.pullModelClients(second)).toEqual([clients[2]]);
  });

  it('moves members kept the old way (a clients array in the model document) into model_clients, once, in update_database', async () => {
    const clients = await newClients(2);
    const model = await connector.createFederatedModel({ name: 'legacy', aggregator: 'avg_values_if_data' });
    await database.db.collection('federated_models').updateOne({ _id: model.id as never }, { $set: { clients: [...clients, clients[0]] } });
    await Promise.all([connector.updateDatabase(), connector.updateDatabase()]);
    expect(await connector.pullModelClients(model)).toEqual([...clients].sort());
    expect(await database.db.collection('federated_models').findOne({ _id: model.id as never })).not.toHaveProperty('clients');
    await connector.updateDatabase();
    expect(await database.db.collection('model_clients').countDocuments({ federatedModel: model.id })).toBe(2);
  });
});
