/**
 * `npm start`: resolves a database (MONGODB_URI, else an embedded mongod, else FerretDB) and an
 * object store (S3_ENDPOINT, else gofakes3, else s3rver), then runs the whole service under
 * serverless-offline on them until interrupted, and stops all three.
 */
import { create } from '../lib/connector';
import { resolveDatabase } from './database/resolve-database';
import { objectStoreEnv, resolveObjectStore } from './object-store/resolve-object-store';
import { startOffline } from './offline';

async function main(): Promise<void> {
  const database = await resolveDatabase();
  console.error(`database: ${database.description}`);
  const store = await resolveObjectStore().catch(async (error: unknown) => {
    await database.stop();
    throw error;
  });
  console.error(`object store: ${store.description}`);
  const developerToken = await prepareDatabase(database.uri, database.kind !== 'external');
  let offline: Awaited<ReturnType<typeof startOffline>> | undefined;
  const shutdown = async (code: number) => {
    await offline?.stop();
    await Promise.all([database.stop(), store.stop()]);
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
  try {
    offline = await startOffline({
      // No Step Functions service locally: runs execute the same definition in-process.
      env: {
        MONGODB_URI: database.uri,
        AGGREGATION_EXECUTOR: 'local',
        ...objectStoreEnv(store),
      },
      httpPort: Number(process.env.PORT ?? 3000),
      lambdaPort: Number(process.env.LAMBDA_PORT ?? 3002),
      inheritOutput: true,
      schedule: true,
    });
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    await shutdown(1);
    return;
  }
  console.error(`\nfma-serverless is up: ${offline.httpUrl} (try GET ${offline.httpUrl}/health); Ctrl-C stops it.`);
  if (developerToken !== undefined) {
    console.error(`A developer for this throwaway database: Authorization: Token ${developerToken}`);
  }
  offline.process.once('exit', () => void shutdown(1));
}

/**
 * Creates the collections and indexes; on a throwaway database, also a developer, whose token is
 * printed so that models can be created at once.
 */
async function prepareDatabase(uri: string, throwaway: boolean): Promise<string | undefined> {
  const connector = create('MongoMetadataConnector', { connection_string: uri });
  try {
    await connector.updateDatabase();
    return throwaway ? (await connector.createDeveloper('local developer')).token : undefined;
  } finally {
    await connector.close();
  }
}

void main();
