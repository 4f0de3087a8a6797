import { randomBytes, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';
import { ClientIdSchema, DeveloperNameSchema } from '../../entities';
import { NotFoundError } from '../../errors';
import type { Ref } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { modelAndMembership } from './member-cache';
import { RefusalTiming } from '../../security/refusal-timing';
import { sha256 } from './queries';

// Who may call the API: developers (token, kept only as its hash), clients, join secrets.

/**
 * A new client: its public id (what developers, lists and other clients see) and its credential
 * (the UUID FMA's wire protocol returns as `uuid` and the client sends as `CLIENT-UUID`), which is
 * returned once and stored only as its SHA-256, as developer tokens are. A random UUID holds 122
 * random bits, so an unsalted fast hash suffices: there is nothing to guess from it.
 */
export async function createClient(context: ConnectorContext): Promise<{ id: string; createdOn: Date; credential: string }> {
  const { clients } = await context.collections();
  const credential = randomUUID();
  const client = { _id: randomUUID(), credentialHash: sha256(credential), createdOn: new Date() };
  await clients.insertOne(client);
  return { id: client._id, createdOn: client.createdOn, credential };
}

/**
 * How long recent lookups that found their credential took, per kind of credential, in this
 * process (a Lambda container): a refusal waits as long, so that time does not tell an unknown
 * credential from a known one.
 */
const clientLookupTiming = new RefusalTiming();
const developerLookupTiming = new RefusalTiming();

/** The public id of the client whose credential (`CLIENT-UUID`) this is, or null. */
export async function findClientByCredential(context: ConnectorContext, credential: string): Promise<string | null> {
  // Timed from after the connection is made, so that a cold start's connecting is not a sample.
  const { clients } = await context.collections();
  const startedAt = clientLookupTiming.start();
  // Not a UUID: refused without a read, but after the same wait as any refusal.
  const found = ClientIdSchema.safeParse(credential).success
    ? await clients.findOne({ credentialHash: sha256(credential) }, { projection: { _id: 1 } })
    : null;
  if (found === null) {
    await clientLookupTiming.refused(startedAt);
    return null;
  }
  clientLookupTiming.accepted(startedAt);
  return found._id;
}

/** Which of these public ids name clients (one query; ids that are not UUIDs name none). */
export async function existingClients(context: ConnectorContext, ids: readonly string[]): Promise<Set<string>> {
  const candidates = ids.filter((id) => ClientIdSchema.safeParse(id).success);
  if (candidates.length === 0) return new Set();
  const { clients } = await context.collections();
  const found = await clients.find({ _id: { $in: candidates } }, { projection: { _id: 1 } }).toArray();
  return new Set(found.map((client) => client._id));
}

/** A new developer and its API token, which is returned once and stored only as its SHA-256. */
export async function createDeveloper(
  context: ConnectorContext,
  name: string,
): Promise<{ id: string; name: string; token: string }> {
  const parsedName = parseArgument(DeveloperNameSchema, name, 'name');
  const { developers } = await context.collections();
  const token = randomBytes(32).toString('hex');
  const id = randomUUID();
  await developers.insertOne({ _id: id, name: parsedName, tokenHash: sha256(token), createdOn: new Date() });
  return { id, name: parsedName, token };
}

export async function findDeveloperByToken(
  context: ConnectorContext,
  token: string,
): Promise<{ id: string; name: string } | null> {
  const { developers } = await context.collections();
  const startedAt = developerLookupTiming.start();
  const found = await developers.findOne({ tokenHash: sha256(token) });
  if (found === null) {
    await developerLookupTiming.refused(startedAt);
    return null;
  }
  developerLookupTiming.accepted(startedAt);
  return { id: found._id, name: found.name };
}

/** True when the model needs no join secret, or `secret` is it. */
export async function verifyJoinSecret(context: ConnectorContext, model: Ref, secret: string | undefined): Promise<boolean> {
  const id = parseArgument(RefSchema, model, 'model');
  // The model as the container knows it (member-cache.ts): a join secret is set only when the model is created.
  const { found } = await modelAndMembership(context, id, null);
  if (found === null) throw new NotFoundError(`Federated model ${id} does not exist`);
  const expected = found.joinSecretHash;
  if (expected === null) return true;
  if (secret === undefined) return false;
  const [scheme, salt, hash] = expected.split('$');
  if (scheme === 'scrypt' && salt !== undefined && hash !== undefined) {
    const given = scryptSync(secret, Buffer.from(salt, 'hex'), SCRYPT_KEY_BYTES, SCRYPT_OPTIONS);
    return timingSafeEqual(given, Buffer.from(hash, 'hex'));
  }
  // Models created before secrets were salted keep their unsalted SHA-256 until recreated.
  return timingSafeEqual(Buffer.from(sha256(secret), 'hex'), Buffer.from(expected, 'hex'));
}

const SCRYPT_KEY_BYTES = 32;
/** scrypt's defaults (N = 2^14, r = 8): about 16 MiB and tens of milliseconds per try, per guess. */
const SCRYPT_OPTIONS = { N: 1 << 14, r: 8, p: 1 } as const;

/**
 * A join secret as stored: `scrypt$<salt>$<key>` (hex), salted and slow, so a leaked database
 * does not give away short secrets by a precomputed table or a fast guessing run.
 */
export function hashJoinSecret(secret: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('hex')}$${scryptSync(secret, salt, SCRYPT_KEY_BYTES, SCRYPT_OPTIONS).toString('hex')}`;
}
