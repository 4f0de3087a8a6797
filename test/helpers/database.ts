import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { settleLocalRuns } from '../../lib/aggregation/start-run';
import { MongoMetadataConnector } from '../../lib/connector';
import { closeMongoClient } from '../../lib/db/client';

/** The URI that the global setup resolved. */
export function testMongoUri(): string {
  const uri = process.env.MONGODB_URI;
  if (uri === undefined) throw new Error('MONGODB_URI is not set: run the tests with `npm test`');
  return uri;
}

/** A database name unique to this test file and run, so that test files can run in parallel. */
export function uniqueDatabaseName(label = path.basename(expect.getState().testPath ?? 'test', '.test.ts')): string {
  const stem = label.replace(/[^A-Za-z0-9]/g, '_').slice(0, 40);
  return `t_${stem}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  readonly name: string;
  readonly db: Db;
  readonly client: MongoClient;
}

/**
 * Gives the test file a fresh database of its own (created lazily by the server, dropped after
 * the file). Call at the top of a describe block; read `.db` inside tests.
 */
export function useTestDatabase(): TestDatabase {
  const name = uniqueDatabaseName();
  let client: MongoClient | undefined;
  beforeAll(async () => {
    client = await new MongoClient(testMongoUri(), { maxPoolSize: 20 }).connect();
  });
  afterAll(async () => {
    await client?.db(name).dropDatabase();
    await client?.close();
  });
  return {
    name,
    get client() {
      if (client === undefined) throw new Error('the test database is used before beforeAll ran');
      return client;
    },
    get db() {
      return this.client.db(name);
    },
  };
}

/**
 * This file's database, made the one the Lambda handlers use as well (their shared connection
 * reads MONGODB_URI and MONGODB_DB_NAME when first used), with its collections and indexes in
 * place and a connector on it; after the file, once the local runs it started are over, the
 * handlers' connection is closed. For tests that run handlers or the state machine in-process.
 */
export function useHandlerDatabase(): TestDatabase & { readonly connector: MongoMetadataConnector } {
  const database = useTestDatabase();
  let connector: MongoMetadataConnector | undefined;
  beforeAll(async () => {
    process.env.MONGODB_URI = testMongoUri();
    process.env.MONGODB_DB_NAME = database.name;
    connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
  });
  afterAll(async () => {
    await settleLocalRuns();
    await closeMongoClient();
  });
  return {
    get name() {
      return database.name;
    },
    get client() {
      return database.client;
    },
    get db() {
      return database.db;
    },
    get connector() {
      if (connector === undefined) throw new Error('the connector is used before beforeAll ran');
      return connector;
    },
  };
}
