import type { Db } from 'mongodb';
import { collections } from './collections';

/**
 * Moves members kept the old way, a `clients` array inside each model document, into
 * `model_clients` (one document per membership), then drops the array. Idempotent and safe to
 * run concurrently: memberships are upserted by their `_id`, and the array is removed only after
 * its members are in place, so a migration that dies half-way is finished by the next one.
 */
export async function moveModelClientArrays(db: Db): Promise<number> {
  const { federatedModels, modelClients } = collections(db);
  const legacy = await federatedModels
    .find({ clients: { $exists: true } } as never, { projection: { _id: 1, clients: 1, createdOn: 1 } })
    .toArray();
  let moved = 0;
  for (const model of legacy as unknown as { _id: number; clients?: unknown; createdOn?: Date }[]) {
    const clients = Array.isArray(model.clients) ? [...new Set(model.clients.filter((c): c is string => typeof c === 'string'))] : [];
    if (clients.length > 0) {
      await modelClients.bulkWrite(
        clients.map((client) => ({
          updateOne: {
            filter: { _id: `${model._id}/${client}` },
            update: { $setOnInsert: { federatedModel: model._id, client, joinedOn: model.createdOn ?? new Date() } },
            upsert: true,
          },
        })),
        { ordered: false },
      );
    }
    await federatedModels.updateOne({ _id: model._id }, { $unset: { clients: '' } } as never);
    moved += clients.length;
  }
  return moved;
}
