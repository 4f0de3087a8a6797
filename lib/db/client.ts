import { MongoClient, type Db } from 'mongodb';
import { getConfig, type Config } from '../config';
import { ConfigurationError, DependencyError } from '../errors';
import { resolveMongoUri } from './connection-string';

/**
 * One MongoClient per Lambda container: created on first use, reused by every invocation that
 * container serves, never closed by a handler (the MongoDB driver's Lambda guidance). Its
 * connection string is resolved in the same first use (MONGODB_URI, else the SSM parameter: see
 * ./connection-string.ts), so calls that arrive together share one parameter read and one connect.
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

/**
 * The container's shared client, connected. A failure is not cached: the next call resolves the
 * connection string and connects again. Configuration errors (no MONGODB_URI nor parameter, an
 * unreadable parameter) come out as they are; a server that cannot be reached is a DependencyError.
 */
export function getMongoClient(): Promise<MongoClient> {
  clientPromise ??= connect().catch((error: unknown) => {
    clientPromise = undefined;
    throw error;
  });
  return clientPromise;
}

async function connect(): Promise<MongoClient> {
  const config = getConfig();
  const uri = await resolveMongoUri(config);
  let client: MongoClient;
  try {
    client = new MongoClient(uri, mongoClientOptions(config));
  } catch {
    // The driver's parse errors can quote parts of the string (host, user): no cause kept.
    throw new ConfigurationError('The MongoDB connection string could not be parsed');
  }
  try {
    return await client.connect();
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new DependencyError('The database could not be reached.', { cause: error });
  }
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
