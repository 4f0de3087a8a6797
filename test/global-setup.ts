import { resolveDatabase, type ResolvedDatabase } from '../scripts/database/resolve-database';

declare global {
  // Shared with global-teardown.ts: Jest runs both in the same context.
  var __testDatabase: ResolvedDatabase | undefined;
}

export default async function globalSetup(): Promise<void> {
  const database = await resolveDatabase((message) => console.log(message));
  globalThis.__testDatabase = database;
  // Workers inherit this process's environment.
  process.env.MONGODB_URI = database.uri;
  process.env.TEST_DATABASE_KIND = database.kind;
  console.log(`\nTest database: ${database.description}`);
}
