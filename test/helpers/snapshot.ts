import type { Db } from 'mongodb';

/** Every document of every collection, for asserting that a rejected call changed nothing. */
export async function snapshotDatabase(db: Db): Promise<Record<string, unknown[]>> {
  const snapshot: Record<string, unknown[]> = {};
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  for (const name of names) {
    snapshot[name] = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
  }
  return snapshot;
}
