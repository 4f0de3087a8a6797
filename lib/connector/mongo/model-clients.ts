import { z } from 'zod';
import type { ModelClientDocument } from '../../db/collections';
import { ClientIdSchema } from '../../entities';
import type { MemberPreview, Page, Paged, Ref } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { uniqueStrings } from './queries';

// Which clients belong to which model: one document per membership (model_clients), never an
// array in the model document. Open registration can admit any number of clients; a membership
// check reads one document by its `_id`, and no request loads a model's whole membership except
// the ones that show it (the model's JSON, the `all_clients` requirement).

const ClientListSchema = z.array(ClientIdSchema);

/** The `_id` of a membership: unique per (model, client) by construction. */
export function membershipId(model: number, client: string): string {
  return `${model}/${client}`;
}

/** Makes the clients members of the model; members already are stay as they were (idempotent, race-safe). */
export async function addModelClients(context: ConnectorContext, model: number, clients: readonly string[]): Promise<void> {
  const members = uniqueStrings(parseArgument(ClientListSchema, clients, 'clients'));
  if (members.length === 0) return;
  const { modelClients } = await context.collections();
  const joinedOn = new Date();
  // Upserts on `_id`: two racing registrations of the same client end with one membership.
  await modelClients.bulkWrite(
    members.map((client) => ({
      updateOne: {
        filter: { _id: membershipId(model, client) },
        update: { $setOnInsert: { federatedModel: model, client, joinedOn } },
        upsert: true,
      },
    })),
    { ordered: false },
  );
}

/**
 * The model's members become exactly `clients`: the new ones are added first, then the others
 * removed, so a client named in both the old and the new list is a member throughout.
 */
export async function replaceModelClients(context: ConnectorContext, model: number, clients: readonly string[]): Promise<void> {
  const members = uniqueStrings(parseArgument(ClientListSchema, clients, 'clients'));
  await addModelClients(context, model, members);
  const { modelClients, modelUpdateUploads } = await context.collections();
  await modelClients.deleteMany({ federatedModel: model, client: { $nin: members } });
  // A removed member's open uploads are closed (completion checks membership again as well).
  await modelUpdateUploads.updateMany(
    { federatedModel: model, client: { $nin: members }, status: 'open' },
    { $set: { status: 'refused', reason: 'the client was removed from the model' } },
  );
}

/** True when the client belongs to the model (one indexed read). */
export async function isModelClient(context: ConnectorContext, model: Ref, client: string): Promise<boolean> {
  const id = parseArgument(RefSchema, model, 'model');
  const { modelClients } = await context.collections();
  return (await modelClients.findOne({ _id: membershipId(id, client) }, { projection: { _id: 1 } })) !== null;
}

/** The model's members, in the order they joined (those that joined together by id). */
export async function pullModelClients(context: ConnectorContext, model: Ref): Promise<string[]> {
  const id = parseArgument(RefSchema, model, 'model');
  const members = await pullClientsOfModels(context, [id]);
  return members.get(id) ?? [];
}

/** The members of each of `models` (one query), in the order they joined (those that joined together by id). */
export async function pullClientsOfModels(context: ConnectorContext, models: readonly number[]): Promise<Map<number, string[]>> {
  const result = new Map<number, string[]>(models.map((model) => [model, []]));
  if (models.length === 0) return result;
  const { modelClients } = await context.collections();
  const found = await modelClients
    .find({ federatedModel: models.length === 1 ? models[0]! : { $in: [...models] } }, { projection: { federatedModel: 1, client: 1 } })
    .sort({ joinedOn: 1, _id: 1 })
    .toArray();
  for (const membership of found) result.get(membership.federatedModel)?.push(membership.client);
  return result;
}

/**
 * How many members a model's representation lists (FMA's `clients` field); a model with more lists
 * the first ones in join order and says how many it has, and its members are read page by page
 * (`GET /api/v1/models/{id}/clients/`). A representation stays far below Lambda's 6 MB response.
 */
export const MEMBERS_INLINE_MAX = 1_000;

/** Each model's members as its representation lists them: one bounded read per model (in parallel), a count only past the bound. */
export async function pullMemberPreviews(context: ConnectorContext, models: readonly number[]): Promise<Map<number, MemberPreview>> {
  const { modelClients } = await context.collections();
  const previews = await Promise.all(
    models.map(async (model): Promise<[number, MemberPreview]> => {
      const found = await modelClients
        .find({ federatedModel: model }, { projection: { client: 1 } })
        .sort({ joinedOn: 1, _id: 1 })
        .limit(MEMBERS_INLINE_MAX + 1)
        .toArray();
      const clients = found.slice(0, MEMBERS_INLINE_MAX).map((membership) => membership.client);
      const total = found.length <= MEMBERS_INLINE_MAX ? found.length : await modelClients.countDocuments({ federatedModel: model });
      return [model, { clients, total }];
    }),
  );
  return new Map(previews);
}

/** One page of a model's members, in the order they joined, with their number. */
export async function pullModelMembers(context: ConnectorContext, model: Ref, page: Page): Promise<Paged<{ client: string; joinedOn: Date }>> {
  const id = parseArgument(RefSchema, model, 'model');
  const { modelClients } = await context.collections();
  const [count, found] = await Promise.all([
    modelClients.countDocuments({ federatedModel: id }),
    modelClients
      .find({ federatedModel: id }, { projection: { client: 1, joinedOn: 1 } })
      .sort({ joinedOn: 1, _id: 1 })
      .skip((page.page - 1) * page.pageSize)
      .limit(page.pageSize)
      .toArray(),
  ]);
  return { count, items: found.map((membership) => ({ client: membership.client, joinedOn: membership.joinedOn })) };
}

/** Those of `clients` that belong to the model. */
export async function modelClientsAmong(context: ConnectorContext, model: number, clients: readonly string[]): Promise<string[]> {
  if (clients.length === 0) return [];
  const { modelClients } = await context.collections();
  const found = await modelClients
    .find({ federatedModel: model, client: { $in: uniqueStrings(clients) } }, { projection: { client: 1 } })
    .toArray();
  return found.map((membership) => membership.client);
}

/** Ids of the models a client belongs to. */
export async function pullModelsOfClient(context: ConnectorContext, client: string): Promise<number[]> {
  const { modelClients } = await context.collections();
  const found = await modelClients.find({ client }, { projection: { federatedModel: 1 } }).toArray();
  return found.map((membership: Pick<ModelClientDocument, 'federatedModel'>) => membership.federatedModel).sort((a, b) => a - b);
}

/** Removes every membership of the model (the model is being deleted). */
export async function deleteModelClients(context: ConnectorContext, model: number): Promise<number> {
  const { modelClients } = await context.collections();
  return (await modelClients.deleteMany({ federatedModel: model })).deletedCount;
}
