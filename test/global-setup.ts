import { resolveDatabase, type ResolvedDatabase } from '../scripts/database/resolve-database';
import { resolveObjectStore, type ResolvedObjectStore } from '../scripts/object-store/resolve-object-store';

declare global {
  // Shared with global-teardown.ts: Jest runs both in the same context.
  var __testDatabase: ResolvedDatabase | undefined;
  var __testObjectStore: ResolvedObjectStore | undefined;
}

export default async function globalSetup(): Promise<void> {
  // Handlers log a JSON line per invocation and publish metrics as JSON lines on stdout: in the
  // tests, only errors are logged and metrics are off, unless the environment asks otherwise.
  // Tests of the logs and metrics turn them on for themselves: offline through its environment
  // (test/e2e/observability.test.ts), in-process with a docblock (test/environment.js).
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const database = await resolveDatabase((message) => console.log(message));
  globalThis.__testDatabase = database;
  // Workers inherit this process's environment.
  process.env.MONGODB_URI = database.uri;
  process.env.TEST_DATABASE_KIND = database.kind;
  console.log(`\nTest database: ${database.description}`);

  const store = await resolveObjectStore((message) => console.log(message));
  globalThis.__testObjectStore = store;
  process.env.S3_ENDPOINT = store.endpoint;
  process.env.S3_BUCKET = store.bucket;
  process.env.S3_REGION = store.region;
  process.env.TEST_OBJECT_STORE_KIND = store.kind;
  if (store.credentials !== undefined) {
    process.env.AWS_ACCESS_KEY_ID = store.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = store.credentials.secretAccessKey;
  }
  console.log(`Test object store: ${store.description}`);
}
