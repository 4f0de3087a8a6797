import type { Db, IndexDescription } from 'mongodb';
import { CollectionName, INDEXES } from './collections';
import { isNamespaceExistsError, isNotImplementedError } from './driver-errors';
import { moveModelClientArrays } from './migrations';
import { installValidators, type ValidatorsResult } from './validators';

export interface DatabaseLayout {
  readonly collections: readonly string[];
  /** Index names per collection, `_id_` included. */
  readonly indexes: Readonly<Record<string, readonly string[]>>;
  /** The `$jsonSchema` validators installed, or why they were skipped (only `update_database` reports this). */
  readonly validators?: ValidatorsResult;
}

/**
 * Brings a database to the current layout: every collection and every index (unique ones
 * included), and data kept in an older layout moved to the current one (lib/db/migrations.ts). Idempotent and safe to run from several processes at once: an existing collection
 * is not an error, and creating an index that exists with the same name and keys is a no-op.
 *
 * `$jsonSchema` validators (lib/db/validators.ts) are installed where the server supports them
 * (MongoDB); where it does not (FerretDB v1) the result says they were skipped. Documents are
 * validated by the connector with zod before they are written either way.
 */
export async function updateDatabaseLayout(db: Db): Promise<DatabaseLayout> {
  const names = Object.values(CollectionName);
  await Promise.all(
    names.map(async (name) => {
      try {
        await db.createCollection(name);
      } catch (error) {
        if (!isNamespaceExistsError(error)) throw error;
      }
    }),
  );
  // One index per createIndexes command: FerretDB v1 crashes on a multi-index command when some
  // of its indexes exist already. Creating an existing index (same name, same keys) is a no-op.
  for (const name of names) {
    for (const index of INDEXES[name]) await createIndex(db, name, index);
  }
  await moveModelClientArrays(db);
  const validators = await installValidators(db);
  return { ...(await describeDatabaseLayout(db)), validators };
}

/**
 * Creates one index; a TTL index on a server without them (FerretDB v1 answers NotImplemented) is
 * created as a plain index on the same key, and whoever relies on the TTL sweeps instead.
 */
async function createIndex(db: Db, collection: CollectionName, index: IndexDescription): Promise<void> {
  try {
    await db.collection(collection).createIndexes([index]);
  } catch (error) {
    if (index.expireAfterSeconds === undefined || !isNotImplementedError(error)) throw error;
    const { expireAfterSeconds: _ttl, ...plain } = index;
    await db.collection(collection).createIndexes([plain]);
  }
}

export async function describeDatabaseLayout(db: Db): Promise<DatabaseLayout> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  const collections = Object.values(CollectionName).filter((name) => existing.has(name));
  const indexes: Record<string, string[]> = {};
  for (const name of collections) {
    const list = await db.collection(name).listIndexes().toArray();
    indexes[name] = list.map((index) => String(index.name)).sort();
  }
  return { collections, indexes };
}
