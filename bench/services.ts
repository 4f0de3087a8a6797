/**
 * The services a benchmark runs on, resolved as the tests resolve them: the database
 * (scripts/database) and the object store (scripts/object-store), with the environment that
 * points a child process (serverless-offline, a run in a fresh process) at both.
 */
import { createS3ObjectStore, type ObjectStore } from '../lib/store';
import { resolveDatabase, type ResolvedDatabase } from '../scripts/database/resolve-database';
import { resolveObjectStore, type ResolvedObjectStore } from '../scripts/object-store/resolve-object-store';

export interface BenchServices {
  readonly database: ResolvedDatabase;
  readonly objectStore: ResolvedObjectStore;
  /** A store on the resolved bucket, for this process. */
  readonly store: ObjectStore;
  /** S3_* and credentials for a child process (add MONGODB_URI and MONGODB_DB_NAME yourself). */
  readonly storeEnv: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

export async function resolveBenchServices(): Promise<BenchServices> {
  const database = await resolveDatabase();
  const objectStore = await resolveObjectStore().catch(async (error: unknown) => {
    await database.stop();
    throw error;
  });
  const credentials = objectStore.credentials ?? {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'bench',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'bench',
  };
  const store = createS3ObjectStore({
    bucket: objectStore.bucket,
    endpoint: objectStore.endpoint,
    region: objectStore.region,
    forcePathStyle: true,
    credentials,
  });
  return {
    database,
    objectStore,
    store,
    storeEnv: {
      S3_ENDPOINT: objectStore.endpoint,
      S3_BUCKET: objectStore.bucket,
      S3_REGION: objectStore.region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    async stop() {
      await objectStore.stop();
      await database.stop();
    },
  };
}
