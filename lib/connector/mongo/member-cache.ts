import { getConfig } from '../../config';
import { ClientIdSchema } from '../../entities';
import type { FederatedModel } from '../../entities';
import type { Ref } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { toFederatedModel } from './documents';
import { addModelClients, membershipId } from './model-clients';

// What every client reads each round, kept per container (issue #25): a model (its requirement,
// shape, schemas, join secret), a client's membership of it, and which model an aggregate belongs
// to. At the end of a round every client submits at once; reading the model and the membership
// again for each submission was two of its five database commands.
//
// Bounded staleness, documented in the README (Configuration, Guarantees):
// - A model found is trusted for MEMBERSHIP_CACHE_MS (5 s), then read again. The members found
//   since stay with it while its `membersStamp` is unchanged; removing members (a PUT or PATCH of
//   `clients`) changes the stamp, so every container forgets the model's members at its next read
//   of the model: a client removed through another container is refused within the bound. A
//   change of a model's settings made elsewhere applies within it too. Changes made through this
//   container (its connector) drop what they change at once.
// - What was not found is never kept: an unknown model or a non-member is read again every time,
//   so a model just created, or a client that has just joined through another container, is
//   admitted at once.
// - An aggregate's model never changes (aggregates are deleted only with their model), so it is
//   kept until the container goes, at most AGGREGATES_KEPT of them.
//
// Entries live with the connector's context, so connectors of other databases (tests) share none.

/** A model as read, with what only the connector needs of it. */
export interface CachedModel {
  readonly model: FederatedModel;
  readonly joinSecretHash: string | null;
}

interface ModelEntry extends CachedModel {
  readonly readAt: number;
  /** The model's `membersStamp` when read: a removal of members changes it. */
  readonly membersStamp: string | null;
  /** Members found since (valid while the entry is). */
  readonly members: Set<string>;
}

/** At most this many models, memberships per model and aggregates are kept (the oldest go first). */
const MODELS_KEPT = 1_000;
const MEMBERS_KEPT = 10_000;
const AGGREGATES_KEPT = 10_000;

class MemberCache {
  readonly models = new Map<number, ModelEntry>();
  readonly aggregates = new Map<number, number>();

  constructor(readonly ttlMs: number) {}

  fresh(readAt: number, now: number): boolean {
    return now - readAt < this.ttlMs;
  }
}

const caches = new WeakMap<ConnectorContext, MemberCache>();

function cacheOf(context: ConnectorContext): MemberCache {
  let cache = caches.get(context);
  if (cache === undefined) {
    cache = new MemberCache(getConfig().MEMBERSHIP_CACHE_MS);
    caches.set(context, cache);
  }
  return cache;
}

/** A request's pair: this client submitting to (or scoring, or joining) this model. */
export interface ModelAndClient {
  readonly model: number;
  readonly client: string | null;
}

/**
 * The models and memberships of these pairs: from the cache when fresh, else in at most two reads
 * (the models, then the memberships). A model that does not exist is absent from
 * `models`; `members` holds the membership ids (`<model>/<client>`) that exist.
 *
 * The members a container remembers are valid while their model's entry is: re-reading a model
 * keeps them when its `membersStamp` is unchanged (no member was removed meanwhile) and forgets
 * them otherwise, so a warm container re-reads one model document per MEMBERSHIP_CACHE_MS, not
 * one membership per client.
 */
export async function modelsAndMembers(
  context: ConnectorContext,
  pairs: readonly ModelAndClient[],
): Promise<{ models: Map<number, CachedModel>; members: Set<string> }> {
  const cache = cacheOf(context);
  const now = performance.now();
  const modelsToRead = new Set<number>();
  const membersToRead = new Set<string>();
  /** Remembered by an entry that is being read again: members if its stamp is unchanged. */
  const toConfirm = new Set<string>();
  const models = new Map<number, CachedModel>();
  const members = new Set<string>();
  for (const { model, client } of pairs) {
    const entry = cache.models.get(model);
    const fresh = entry !== undefined && cache.fresh(entry.readAt, now);
    if (fresh) models.set(model, entry);
    else modelsToRead.add(model);
    if (client === null) continue;
    const id = membershipId(model, client);
    if (entry?.members.has(client) !== true) membersToRead.add(id);
    else if (fresh) members.add(id);
    else toConfirm.add(id);
  }
  if (modelsToRead.size === 0 && membersToRead.size === 0) return { models, members };

  const { federatedModels } = await context.collections();
  // The models first, then the memberships: a membership is remembered only with a stamp read
  // before it, so that a removal after the stamp was read changes the stamp the next read sees.
  // Equality on `_id` for one document: FerretDB v1 pushes it down to PostgreSQL, an `$in` it does not.
  const readAt = performance.now();
  const modelDocuments = modelsToRead.size === 0 ? [] : await federatedModels.find(idFilter([...modelsToRead])).toArray();
  for (const document of modelDocuments) {
    const model = toFederatedModel(document);
    const stamp = document.membersStamp ?? null;
    const previous = cache.models.get(model.id);
    const kept = previous !== undefined && previous.membersStamp === stamp ? previous.members : new Set<string>();
    const entry: ModelEntry = { model, joinSecretHash: document.joinSecretHash ?? null, membersStamp: stamp, readAt, members: kept };
    remember(cache.models, model.id, entry, MODELS_KEPT);
    models.set(model.id, entry);
  }
  for (const id of modelsToRead) if (!models.has(id)) cache.models.delete(id);
  // Members whose model's stamp changed are read again (the rare case), with the ones not known.
  for (const id of toConfirm) {
    const [model, client] = splitMembershipId(id);
    if (cache.models.get(model)?.members.has(client) === true) members.add(id);
    else if (models.has(model)) membersToRead.add(id);
  }
  // A membership read belongs to the entry (the stamp) current when it was sent: one that a
  // concurrent request replaced meanwhile may hold a stamp read after a removal this read missed.
  const entries = new Map([...membersToRead].map((id) => [id, cache.models.get(splitMembershipId(id)[0])]));
  await readMembers(context, membersToRead, members);
  for (const [id, entry] of entries) {
    const [model, client] = splitMembershipId(id);
    if (entry === undefined || cache.models.get(model) !== entry) continue;
    if (members.has(id)) rememberMember(entry.members, client, MEMBERS_KEPT);
    else entry.members.delete(client);
  }
  return { models, members };
}

/** Reads which of these memberships exist into `found` (no query for none). */
async function readMembers(context: ConnectorContext, ids: ReadonlySet<string>, found: Set<string>): Promise<void> {
  if (ids.size === 0) return;
  const { modelClients } = await context.collections();
  const documents = await modelClients.find(idFilter([...ids]), { projection: { _id: 1 } }).toArray();
  for (const membership of documents) found.add(membership._id);
}

/** One model and whether `client` belongs to it (see {@link modelsAndMembers}). */
export async function modelAndMembership(
  context: ConnectorContext,
  model: number,
  client: string | null,
): Promise<{ found: CachedModel | null; member: boolean }> {
  const { models, members } = await modelsAndMembers(context, [{ model, client }]);
  return { found: models.get(model) ?? null, member: client !== null && members.has(membershipId(model, client)) };
}

/** The connector's `pullModelForClient`: the model and the client's membership, cached as above. */
export async function pullModelForClient(
  context: ConnectorContext,
  model: Ref,
  client: string | null,
): Promise<{ model: FederatedModel | null; isMember: boolean }> {
  const id = parseArgument(RefSchema, model, 'model');
  const clientId = client === null ? null : parseArgument(ClientIdSchema, client, 'client');
  const { found, member } = await modelAndMembership(context, id, clientId);
  return { model: found?.model ?? null, isMember: member };
}

/** The connector's `joinModel`: the membership is written, then known to this container. */
export async function joinModel(context: ConnectorContext, model: Ref, client: string): Promise<void> {
  const id = parseArgument(RefSchema, model, 'model');
  await addModelClients(context, id, [client]);
  const entry = caches.get(context)?.models.get(id);
  if (entry !== undefined) rememberMember(entry.members, client, MEMBERS_KEPT);
}

/** The connector's `pullModelOfAggregate`. */
export async function pullModelOfAggregate(context: ConnectorContext, aggregate: Ref): Promise<number | null> {
  const id = parseArgument(RefSchema, aggregate, 'aggregate');
  return (await modelsOfAggregates(context, [id])).get(id) ?? null;
}

/** Which model each of these aggregates belongs to (absent: no such aggregate); reads only those not seen before. */
export async function modelsOfAggregates(context: ConnectorContext, aggregates: readonly number[]): Promise<Map<number, number>> {
  const cache = cacheOf(context);
  const result = new Map<number, number>();
  const toRead: number[] = [];
  for (const id of new Set(aggregates)) {
    const model = cache.aggregates.get(id);
    if (model === undefined) toRead.push(id);
    else result.set(id, model);
  }
  if (toRead.length === 0) return result;
  const { modelAggregates } = await context.collections();
  const found = await modelAggregates.find(idFilter(toRead), { projection: { federatedModel: 1 } }).toArray();
  for (const aggregate of found) {
    remember(cache.aggregates, aggregate._id, aggregate.federatedModel, AGGREGATES_KEPT);
    result.set(aggregate._id, aggregate.federatedModel);
  }
  return result;
}

/** Forgets a model and its memberships (its settings or members changed, or it was deleted, through this container). */
export function forgetModel(context: ConnectorContext, model: number): void {
  const cache = caches.get(context);
  if (cache === undefined) return;
  cache.models.delete(model);
  for (const [aggregate, owner] of cache.aggregates) if (owner === model) cache.aggregates.delete(aggregate);
}

/** Records a model's new weights shape (set through this container) without forgetting its members. */
export function rememberWeightsShape(context: ConnectorContext, model: number, weightsShape: FederatedModel['weightsShape']): void {
  const entry = caches.get(context)?.models.get(model);
  if (entry === undefined) return;
  caches.get(context)!.models.set(model, { ...entry, model: { ...entry.model, weightsShape } });
}

function idFilter<T extends number | string>(ids: T[]): { _id: T | { $in: T[] } } {
  return { _id: ids.length === 1 ? ids[0]! : { $in: ids } };
}

function splitMembershipId(id: string): [number, string] {
  const slash = id.indexOf('/');
  return [Number(id.slice(0, slash)), id.slice(slash + 1)];
}

/** Sets a key, moving it to the newest end; drops the oldest past `limit`. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value as K);
}

/** Adds a value, moving it to the newest end; drops the oldest past `limit`. */
function rememberMember(set: Set<string>, value: string, limit: number): void {
  set.delete(value);
  set.add(value);
  if (set.size > limit) set.delete(set.values().next().value as string);
}
