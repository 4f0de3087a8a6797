import { closeMongoClient, getDatabase, getMongoClient } from '../../lib/db/client';
import { testMongoUri, uniqueDatabaseName } from '../helpers/database';

describe('the shared connection', () => {
  const databaseName = uniqueDatabaseName();
  beforeAll(() => {
    process.env.MONGODB_URI = testMongoUri();
    process.env.MONGODB_DB_NAME = databaseName;
  });
  afterAll(async () => {
    await (await getDatabase()).dropDatabase();
    await closeMongoClient();
  });

  it('writes and reads a document', async () => {
    const db = await getDatabase();
    expect(db.databaseName).toBe(databaseName);
    const { insertedId } = await db.collection('probe').insertOne({ greeting: 'hello', n: 42 });
    const found = await db.collection('probe').findOne({ _id: insertedId });
    expect(found).toMatchObject({ greeting: 'hello', n: 42 });
  });

  it('is one client per container, reused across calls', async () => {
    const first = await getMongoClient();
    const second = await getMongoClient();
    expect(second).toBe(first);
  });
});
