import { MongoClient, type Db } from 'mongodb';
import { getConfig, requireMongoUri, type Config } from '../config';
import { DependencyError } from '../errors';

/**
 * One MongoClient per Lambda container: created on first use, reused by every invocation that
 * container serves, never closed by a handler (the MongoDB driver's Lambda guidance).
 */
let clientPromise: Promise<MongoClient> | undefined;

/** Client options for a Lambda container: few connections, fail fast when the server is away. */
export function mongoClientOptions(config: Config) {
  return {
    maxPoolSize: config.MONGODB_MAX_POOL_SIZE,
    maxIdleTimeMS: config.MONGODB_MAX_IDLE_TIME_MS,
    serverSelectionTimeoutMS: config.MONGODB_SERVER_SELECTION_TIMEOUT_MS,
    appName: 'fma-serverless',
  } as const;
}

/** The container's shared client, connected. A failed connect is not cached: the next call retries. */
export function getMongoClient(): Promise<MongoClient> {
  if (clientPromise === undefined) {
    const config = getConfig();
    const client = new MongoClient(requireMongoUri(config), mongoClientOptions(config));
    clientPromise = client.connect().catch(async (error: unknown) => {
      clientPromise = undefined;
      await client.close().catch(() => undefined);
      throw new DependencyError('The database could not be reached.', { cause: error });
    });
  }
  return clientPromise;
}

/** The service database on the shared client (`MONGODB_DB_NAME`). */
export async function getDatabase(): Promise<Db> {
  const client = await getMongoClient();
  return client.db(getConfig().MONGODB_DB_NAME);
}

/** Closes the shared client; for scripts and tests only, never for handlers. */
export async function closeMongoClient(): Promise<void> {
  const pending = clientPromise;
  clientPromise = undefined;
  if (pending !== undefined) {
    const client = await pending.catch(() => undefined);
    await client?.close();
  }
}
