import type { Document } from 'mongodb';
import { MongoMetadataConnector } from '../../../lib/connector';
import { INDEXES, type CollectionName } from '../../../lib/db/collections';
import { useTestDatabase } from '../../helpers/database';

/** The query shapes the connector runs on large collections, and the index each one needs. */
const QUERIES: { name: string; collection: CollectionName; filter: Document; sort?: Document; index: string }[] = [
  {
    name: 'pending / ready updates of a model',
    collection: 'model_updates',
    filter: { federatedModel: 1, status: { $in: [0, 3] }, client: { $in: ['c'] }, baseAggregate: { $in: [1, 2] } },
    sort: { _id: 1 },
    index: 'federatedModel_status_client',
  },
  {
    name: 'claim (the guarded updateMany filter)',
    collection: 'model_updates',
    filter: { _id: { $in: [1, 2] }, federatedModel: 1, status: { $in: [0, 3] } },
    index: '_id_',
  },
  {
    name: 'updates registered for one run',
    collection: 'model_updates',
    filter: { federatedModel: 1, status: 1, claimedBy: 'run' },
    sort: { _id: 1 },
    index: 'federatedModel_status_client',
  },
  {
    name: 'latest aggregate of a model',
    collection: 'model_aggregates',
    filter: { federatedModel: 1 },
    sort: { createdOn: -1, _id: -1 },
    index: 'federatedModel_createdOn',
  },
  {
    name: 'ancestor window',
    collection: 'model_aggregates',
    filter: { federatedModel: 1, level: { $gte: 0, $lt: 3 } },
    index: 'federatedModel_level',
  },
];

function indexedFields(plan: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown) => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    if (record.stage === 'IXSCAN' && typeof record.indexName === 'string') found.push(record.indexName);
    Object.values(record).forEach(visit);
  };
  visit(plan);
  return found;
}

describe('indexes behind the connector\'s queries', () => {
  const database = useTestDatabase();

  beforeAll(async () => {
    await new MongoMetadataConnector(database.db).updateDatabase();
  });

  it.each(QUERIES)('$name: an index leads with the filter\'s fields', async ({ collection, filter, index }) => {
    const spec = index === '_id_' ? { key: { _id: 1 } } : INDEXES[collection].find((candidate) => candidate.name === index);
    expect(spec).toBeDefined();
    const [leading] = Object.keys(spec!.key as Document);
    expect(Object.keys(filter)).toContain(leading);
    const existing = (await database.db.collection(collection).listIndexes().toArray()).map((i) => i.name);
    expect(existing).toContain(index);
  });

  it.each(QUERIES)('$name: the server plans it as expected', async ({ collection, filter, sort, index }) => {
    const explained = await database.db
      .collection(collection)
      .find(filter, sort === undefined ? {} : { sort })
      .explain('queryPlanner');
    if (typeof explained.serverInfo?.ferretdbVersion === 'string') {
      // FerretDB v1 on SQLite pushes down no filter but _id and uses no secondary index: it
      // answers explain with its SQL plan, so all we can hold it to is answering.
      expect(explained.queryPlanner).toBeDefined();
    } else {
      // MongoDB: the winning plan must scan the index this query was designed for.
      expect(indexedFields(explained.queryPlanner?.winningPlan)).toContain(index);
    }
  });
});
