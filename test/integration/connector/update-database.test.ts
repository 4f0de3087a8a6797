import { MongoMetadataConnector } from '../../../lib/connector';
import { INDEXES } from '../../../lib/db/collections';
import { VALIDATORS } from '../../../lib/db/validators';
import { ConflictError } from '../../../lib/errors';
import { useTestDatabase } from '../../helpers/database';

describe('update_database', () => {
  const database = useTestDatabase();

  it('creates every collection and index, and is a no-op when run twice or concurrently', async () => {
    const connector = new MongoMetadataConnector(database.db);
    const first = await connector.updateDatabase();
    const second = await connector.updateDatabase();
    const concurrent = await Promise.all(
      Array.from({ length: 4 }, () => new MongoMetadataConnector(database.db).updateDatabase()),
    );

    for (const [collection, indexes] of Object.entries(INDEXES)) {
      expect(first.collections).toContain(collection);
      expect(first.indexes[collection]).toEqual(['_id_', ...indexes.map((index) => index.name!)].sort());
    }
    expect(second).toEqual(first);
    for (const layout of concurrent) expect(layout).toEqual(first);
  });

  it('installs $jsonSchema validators where the server supports them, and says so where it does not', async () => {
    const layout = await new MongoMetadataConnector(database.db).updateDatabase();
    const build = await database.db.admin().command({ buildInfo: 1 });
    const ferret = build.ferretdb !== undefined || /ferret/i.test(JSON.stringify(build));
    if (ferret) {
      expect(layout.validators).toEqual({ installed: [], skipped: expect.stringMatching(/does not support/) });
      return;
    }
    expect(layout.validators).toEqual({ installed: Object.keys(VALIDATORS).sort(), skipped: null });
    // A write around the connector that breaks the layout is refused by the server.
    await expect(database.db.collection('model_updates').insertOne({ _id: 999_999 as never, status: 'PENDING' })).rejects.toThrow();
  });

  it('enforces one artifact per version of a model, and one score per aggregate and client', async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    const client = (await connector.createClient()).id;
    const model = await connector.createFederatedModel({ name: 'unique', aggregator: 'avg_values_if_data', clients: [client] });
    await connector.createModelArtifact(model, '1.0.0', [1, 2]);
    await expect(connector.createModelArtifact(model, '1.0.0', [3, 4])).rejects.toThrow(ConflictError);
    expect(await database.db.collection('model_artifacts').countDocuments({ federatedModel: model.id })).toBe(1);

    const aggregate = await connector.postNewModelAggregate(model, null, [1]);
    await connector.createClientAggregateScore(aggregate, client, { accuracy: 0.9 });
    await expect(connector.createClientAggregateScore(aggregate, client, { accuracy: 0.1 })).rejects.toThrow(ConflictError);
    const scores = await database.db.collection('client_aggregate_scores').find({ aggregate: aggregate.id }).toArray();
    expect(scores).toHaveLength(1);
    expect(JSON.parse(scores[0]!.validationResultsJson)).toEqual({ accuracy: 0.9 });
  });
});
