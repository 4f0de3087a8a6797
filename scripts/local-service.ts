/**
 * What the scripts that run the service for an outside tool (schemathesis, pytest) share: a fresh
 * database of their own on the resolved server, with the collections, indexes and a developer
 * whose token the tool uses, and the environment that runs the service on it under
 * serverless-offline.
 */
import { create } from '../lib/connector';
import { objectStoreEnv, type ResolvedObjectStore } from './object-store/resolve-object-store';

/** Makes database `<label>_<now>` on the server at `uri` and a developer in it; answers its name and the token. */
export async function freshDatabaseWithDeveloper(uri: string, label: string): Promise<{ dbName: string; token: string }> {
  const dbName = `${label}_${Date.now()}`;
  const connector = create('MongoMetadataConnector', { connection_string: uri, database_name: dbName });
  try {
    await connector.updateDatabase();
    return { dbName, token: (await connector.createDeveloper(label)).token };
  } finally {
    await connector.close();
  }
}

/** The service's environment on that database and store, with runs executed in-process. */
export function localServiceEnv(uri: string, dbName: string, store: ResolvedObjectStore): Record<string, string> {
  return { MONGODB_URI: uri, MONGODB_DB_NAME: dbName, AGGREGATION_EXECUTOR: 'local', ...objectStoreEnv(store) };
}
