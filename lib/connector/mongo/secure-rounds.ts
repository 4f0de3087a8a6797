import { randomUUID } from 'node:crypto';
import type { SecureRoundDocument, SecureRoundMessageDocument } from '../../db/collections';
import { isDuplicateKeyError } from '../../db/driver-errors';
import {
  CLIENT_STAGES,
  type ClientStage,
  type FederatedModel,
  type SecureRound,
  type SecureRoundParticipant,
  type SecureRoundStatus,
} from '../../entities';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../errors';
import { logger, MetricName, recordMetricBy } from '../../observability';
import { overflowProblem } from '../../secure-aggregation/fixed-point';
import { parsePublicKey } from '../../secure-aggregation/keys';
import { parseShareHex } from '../../secure-aggregation/shamir';
import { hashObject, PRESIGNED_URL_SECONDS } from '../../store/weights';
import { assertConsistentShape, fromStoredShape, toStoredShape } from '../../weights';
import type { MaskedInputUpload, NewSecureRoundKeys, SecureRoundInboxShare, SecureRoundReveal, SecureRoundShare, SecureRoundStep } from '../metadata-connector';
import type { ConnectorContext } from './context';
import { isModelClient } from './model-clients';
import { requireModel } from './models';

// Secure rounds (issue #28; docs/secure-aggregation-protocol.md). A round's document holds its
// stage and who survived each stage; what clients send is one message document per client and
// stage, whose `_id` makes a second one (or a replay) a duplicate key. A stage closes in one
// update guarded by the status it leaves, when every expected client has answered or at its
// deadline, whoever notices first: a client's message, a client polling, or the schedule.

/** A masked input may be as large as a binary update (2 GiB, lib/connector/mongo/uploads.ts). */
const MAX_MASKED_INPUT_BYTES = 2 * 1024 ** 3;

/** What a client sends in each stage, by the message's `stage`. */
const MESSAGE_OF_STAGE = { advertising: 'keys', sharing: 'shares', masking: 'masked_input', unmasking: 'reveal' } as const;

/** What each stage's message is, for errors. */
const WHAT_OF_STAGE = { advertising: 'keys', sharing: 'encrypted shares', masking: 'masked input', unmasking: 'revealed shares' } as const;

export function secureRoundId(model: number, number: number): string {
  return `${model}:${number}`;
}

function messageId(round: string, stage: SecureRoundMessageDocument['stage'], client: string): string {
  return `${round}|${stage}|${client}`;
}

function isClientStage(status: SecureRoundStatus): status is ClientStage {
  return (CLIENT_STAGES as readonly string[]).includes(status);
}

export function toSecureRound(document: SecureRoundDocument): SecureRound {
  return {
    id: document._id,
    federatedModel: document.federatedModel,
    number: document.number,
    status: document.status,
    stageDeadline: document.stageDeadline,
    options: document.options,
    weighted: document.weighted,
    shape: fromStoredShape(document.shape),
    participants: document.participants,
    sharers: document.sharers,
    maskers: document.maskers,
    revealers: document.revealers,
    aggregate: document.aggregate,
    failureReason: document.failureReason,
    createdOn: document.createdOn,
  };
}

function refuse(field: string, message: string): ValidationError {
  return new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}

async function requireSecureModel(context: ConnectorContext, model: number): Promise<FederatedModel & { secureAggregation: NonNullable<FederatedModel['secureAggregation']> }> {
  const found = await requireModel(context, model);
  if (found.secureAggregation === null) {
    throw new ConflictError(`Federated model ${found.id} does not use secure aggregation: send its updates to POST /api/v1/model_updates/`);
  }
  return found as FederatedModel & { secureAggregation: NonNullable<FederatedModel['secureAggregation']> };
}

async function requireMember(context: ConnectorContext, model: number, client: string): Promise<void> {
  if (!(await isModelClient(context, model, client))) throw new ForbiddenError('This client is not registered with this model.');
}

/** The model's newest round (or the numbered one), as stored. */
async function findRound(context: ConnectorContext, model: number, number: number | null): Promise<SecureRoundDocument | null> {
  const { secureRounds } = await context.collections();
  if (number !== null) return secureRounds.findOne({ _id: secureRoundId(model, number) });
  return secureRounds.find({ federatedModel: model }).sort({ number: -1 }).limit(1).next();
}

/**
 * A model's round: the newest, or the numbered one. A stage past its deadline is closed first, so
 * what a polling client sees is never a stage that can no longer be answered.
 */
export async function pullSecureRound(context: ConnectorContext, model: number, number: number | null, now = new Date()): Promise<SecureRoundStep | null> {
  const found = await findRound(context, model, number);
  return found === null ? null : advance(context, found, now);
}

/**
 * Key advertisement: the client's two X25519 public keys join the model's open round, or open the
 * next one. The round's shape is the model's; a model without one yet takes it from the first
 * advertisement (`shapes`), and every other must agree.
 */
export async function advertiseSecureRoundKeys(
  context: ConnectorContext,
  modelId: number,
  client: string,
  keys: NewSecureRoundKeys,
  now = new Date(),
): Promise<SecureRoundStep> {
  const model = await requireSecureModel(context, modelId);
  await requireMember(context, model.id, client);
  const cPublicKey = parsePublicKey(keys.cPublicKey);
  const sPublicKey = parsePublicKey(keys.sPublicKey);
  if (cPublicKey === null) throw refuse('c_public_key', 'must be a base64 X25519 public key (32 bytes)');
  if (sPublicKey === null) throw refuse('s_public_key', 'must be a base64 X25519 public key (32 bytes)');
  if (cPublicKey.equals(sPublicKey)) throw refuse('s_public_key', 'must differ from c_public_key (two key pairs per round)');
  const given = keys.shape ?? null;
  if (given !== null) assertConsistentShape(given, 'shapes');
  const { secureRounds } = await context.collections();
  for (let attempt = 0; attempt < 5; attempt++) {
    const newest = await findRound(context, model.id, null);
    const round = newest === null ? null : (await advanceDocument(context, newest, now)).document;
    if (round === null || round.status === 'complete' || round.status === 'failed') {
      if (given !== null && model.weightsShape !== null && given.length !== model.weightsShape.length) {
        throw refuse('shapes', `hold ${given.length} values, but federated model ${model.id}'s updates hold ${model.weightsShape.length}`);
      }
      const shape = model.weightsShape ?? given;
      if (shape === null) throw refuse('shapes', `is required: federated model ${model.id} has no weights yet, so the first client of its first round says their shape`);
      if (4 * (shape.length + 1) > MAX_MASKED_INPUT_BYTES) throw refuse('shapes', `${shape.length} values are more than a masked input may hold`);
      const number = (round?.number ?? 0) + 1;
      const opened: SecureRoundDocument = {
        _id: secureRoundId(model.id, number),
        federatedModel: model.id,
        number,
        status: 'advertising',
        stageDeadline: new Date(now.getTime() + model.secureAggregation.stage_seconds * 1_000),
        options: model.secureAggregation,
        weighted: model.aggregator === 'weighted_fedavg',
        shape: toStoredShape(shape),
        participants: [],
        sharers: [],
        maskers: [],
        revealers: [],
        answered: 0,
        run: null,
        aggregate: null,
        failureReason: null,
        createdOn: now,
        endedOn: null,
      };
      try {
        await secureRounds.insertOne(opened);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      continue; // join whichever round is open now (this one, or a racing client's)
    }
    if (round.status !== 'advertising') {
      throw new ConflictError(`Round ${round.number} of federated model ${model.id} is past key advertisement (it is ${round.status}); join the next round when it ends`);
    }
    // Masking works on the values in order: what must agree is their count (the round keeps the model's layers).
    if (given !== null && given.length !== round.shape.length) {
      throw refuse('shapes', `hold ${given.length} values, but round ${round.number}'s updates hold ${round.shape.length}`);
    }
    return accept(context, round, client, 'advertising', { keys: { cPublicKey: keys.cPublicKey, sPublicKey: keys.sPublicKey } }, now);
  }
  throw new ConflictError(`Federated model ${model.id}'s rounds changed under this request five times; try again`);
}

/** Share distribution: one ciphertext for every other participant, routed to them when the stage closes. */
export async function submitSecureRoundShares(
  context: ConnectorContext,
  model: number,
  client: string,
  number: number,
  shares: readonly SecureRoundShare[],
  now = new Date(),
): Promise<SecureRoundStep> {
  const round = await requireRound(context, model, number, 'sharing');
  const participants = new Set(round.participants.map((participant) => participant.client));
  if (!participants.has(client)) throw new ForbiddenError(`This client is not a participant of round ${number}.`);
  const recipients = new Set<string>();
  for (const share of shares) {
    if (share.to === client) throw refuse('shares', 'must not hold a share for the sender itself');
    if (!participants.has(share.to)) throw refuse('shares', `names ${share.to}, who is not a participant of round ${number}`);
    if (recipients.has(share.to)) throw refuse('shares', `holds two shares for ${share.to}`);
    recipients.add(share.to);
  }
  if (recipients.size !== participants.size - 1) {
    throw refuse('shares', `must hold one share for each of the ${participants.size - 1} other participants (it holds ${recipients.size})`);
  }
  return accept(context, round, client, 'sharing', { sharesJson: JSON.stringify(shares.map((share) => ({ peer: share.to, ciphertext: share.ciphertext }))) }, now);
}

/** The caller's inbox: the ciphertexts the round's sharers addressed to it (nobody else's). */
export async function pullSecureRoundInbox(context: ConnectorContext, model: number, client: string, number: number): Promise<SecureRoundInboxShare[]> {
  const round = await findRound(context, model, number);
  if (round === null) throw new NotFoundError(`Round ${number} of federated model ${model} does not exist`);
  if (round.status === 'advertising' || round.status === 'sharing') {
    throw new ConflictError(`Round ${number} is ${round.status}: shares are routed when sharing closes`);
  }
  if (!round.sharers.includes(client)) throw new ForbiddenError(`This client is not a sharer of round ${number}.`);
  const { secureRoundMessages } = await context.collections();
  const inbox = await secureRoundMessages.findOne({ _id: messageId(round._id, 'inbox', client) });
  return sharesOf(inbox).map((share) => ({ from: share.peer, ciphertext: share.ciphertext }));
}

/**
 * Masked input, first half: where to PUT the bytes (4 × (length + 1) of them). Nothing is written
 * until the completion: the upload's id carries the declared SHA-256.
 */
export async function declareMaskedInput(
  context: ConnectorContext,
  model: number,
  client: string,
  number: number,
  sha256: string,
): Promise<MaskedInputUpload> {
  const round = await requireRound(context, model, number, 'masking');
  if (!round.sharers.includes(client)) throw new ForbiddenError(`This client is not a sharer of round ${number}.`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw refuse('sha256', 'must be the hex SHA-256 of the bytes (64 lowercase hex digits)');
  const upload = `${randomUUID()}.${sha256}`;
  const byteSize = 4 * (round.shape.length + 1);
  const url = await context.store().presignPut(uploadKey(round, client, upload), {
    expiresInSeconds: PRESIGNED_URL_SECONDS,
    contentLength: byteSize,
    contentType: 'application/octet-stream',
  });
  return { upload, url, byteSize, urlExpiresAt: new Date(Date.now() + PRESIGNED_URL_SECONDS * 1_000) };
}

function uploadKey(round: SecureRoundDocument, client: string, upload: string): string {
  // Under uploads/: the bucket's lifecycle rule expires what is never completed.
  return `uploads/secure/${round.federatedModel}/${round.number}/${client}/${upload}`;
}

/**
 * Masked input, second half: the bytes are copied where no client can write, and that copy is
 * checked (size, SHA-256) before it counts; a second masked input of the client is refused.
 */
export async function completeMaskedInput(
  context: ConnectorContext,
  model: number,
  client: string,
  number: number,
  upload: string,
  now = new Date(),
): Promise<SecureRoundStep> {
  const round = await requireRound(context, model, number, 'masking');
  if (!round.sharers.includes(client)) throw new ForbiddenError(`This client is not a sharer of round ${number}.`);
  const match = /^[0-9a-f-]{36}\.([0-9a-f]{64})$/.exec(upload);
  if (match === null) throw refuse('upload', 'must be the upload id POST masked_input/ answered');
  const { secureRoundMessages } = await context.collections();
  if ((await secureRoundMessages.findOne({ _id: messageId(round._id, 'masked_input', client) }, { projection: { _id: 1 } })) !== null) {
    throw alreadySent(round, client, 'masking');
  }
  const store = context.store();
  const source = uploadKey(round, client, upload);
  const byteSize = 4 * (round.shape.length + 1);
  const info = await store.head(source);
  if (info === null) throw refuse('upload', 'no bytes were uploaded to its URL');
  if (info.size !== byteSize) throw refuse('upload', `${info.size} bytes were uploaded, but a masked input of round ${number} is ${byteSize} bytes`);
  const key = `secure-inputs/${round.federatedModel}/${round.number}/${client}-${upload.slice(0, 36)}`;
  await store.copy(source, key);
  await store.delete([source]);
  const { sha256, byteSize: read } = await hashObject(store, key);
  if (read !== byteSize || sha256 !== match[1]) {
    await store.delete([key]);
    throw refuse('upload', read !== byteSize ? `${read} bytes were read, not ${byteSize}` : `the bytes' SHA-256 is ${sha256}, not the declared ${match[1]}`);
  }
  try {
    return await accept(context, round, client, 'masking', { input: { key, byteSize, sha256 } }, now);
  } catch (error) {
    // Refused (a second input, or too late): the copy is nobody's.
    if (error instanceof ConflictError) await store.delete([key]);
    throw error;
  }
}

/**
 * Unmasking: a masker reveals, for each sharer, the share the sum needs of it: of `b` (its self
 * mask's seed) for a sharer that sent its masked input, of `sk` (its pairwise masks' key) for one
 * that did not, never both. Anything else is refused, so the service never holds what would
 * unmask one client.
 */
export async function revealSecureRoundShares(
  context: ConnectorContext,
  model: number,
  client: string,
  number: number,
  reveals: readonly SecureRoundReveal[],
  now = new Date(),
): Promise<SecureRoundStep> {
  const round = await requireRound(context, model, number, 'unmasking');
  if (!round.maskers.includes(client)) throw new ForbiddenError(`This client did not send a masked input in round ${number}.`);
  const maskers = new Set(round.maskers);
  const seen = new Set<string>();
  for (const reveal of reveals) {
    if (!round.sharers.includes(reveal.of)) throw refuse('shares', `names ${reveal.of}, who is not a sharer of round ${number}`);
    if (seen.has(reveal.of)) throw refuse('shares', `holds two shares of ${reveal.of}`);
    seen.add(reveal.of);
    const expected = maskers.has(reveal.of) ? 'b' : 'sk';
    if (reveal.kind !== expected) {
      throw refuse('shares', `reveals ${reveal.of}'s ${reveal.kind} share, but ${reveal.of} ${expected === 'b' ? 'sent its masked input: only its b share may be revealed' : 'dropped out: only its sk share may be revealed'}`);
    }
    if (parseShareHex(reveal.share) === null) throw refuse('shares', `holds a share of ${reveal.of} that is not 132 hex digits of a field element`);
  }
  if (seen.size !== round.sharers.length) {
    throw refuse('shares', `must hold one share of each of the round's ${round.sharers.length} sharers, itself included (it holds ${seen.size})`);
  }
  return accept(context, round, client, 'unmasking', { revealsJson: JSON.stringify(reveals.map((reveal) => ({ of: reveal.of, kind: reveal.kind, share: reveal.share }))) }, now);
}

/** The revealed shares of a round in `summing` (the sum reads them). */
export async function pullSecureRoundReveals(context: ConnectorContext, roundId: string): Promise<{ client: string; reveals: SecureRoundReveal[] }[]> {
  const { secureRoundMessages } = await context.collections();
  const found = await secureRoundMessages.find({ round: roundId, stage: 'reveal' }).toArray();
  return found.map((message) => ({ client: message.client, reveals: JSON.parse(message.revealsJson ?? '[]') as SecureRoundReveal[] }));
}

/** The stored masked inputs of a round, each with its client (the sum keeps the maskers'). */
export async function pullMaskedInputs(context: ConnectorContext, roundId: string): Promise<{ client: string; key: string; byteSize: number; sha256: string }[]> {
  const { secureRoundMessages } = await context.collections();
  const found = await secureRoundMessages.find({ round: roundId, stage: 'masked_input' }).toArray();
  return found.map((message) => ({ client: message.client, ...message.input! }));
}

/** Closes every round whose stage is due (the schedule): those now ready to sum are returned. */
export async function advanceDueSecureRounds(context: ConnectorContext, now = new Date()): Promise<SecureRound[]> {
  const { secureRounds } = await context.collections();
  const due = await secureRounds.find({ status: { $in: [...CLIENT_STAGES] }, stageDeadline: { $lte: now } }).limit(1_000).toArray();
  const ready: SecureRound[] = [];
  for (const round of due) {
    const step = await advance(context, round, now);
    if (step.readyToSum) ready.push(step.round);
  }
  const waiting = await secureRounds.find({ status: 'summing' }).limit(1_000).toArray();
  for (const round of waiting) if (!ready.some((r) => r.id === round._id)) ready.push(toSecureRound(round));
  return ready;
}

/**
 * The round the run sums: the model's newest, if it is `summing`; its `run` becomes this run's.
 * A run that died after writing its aggregate is found by the caller through `run`.
 */
export async function startSecureRoundSum(context: ConnectorContext, model: number, run: string): Promise<{ round: SecureRound; previousRun: string | null } | null> {
  const { secureRounds } = await context.collections();
  const round = await secureRounds.find({ federatedModel: model, status: 'summing' }).sort({ number: -1 }).limit(1).next();
  if (round === null) return null;
  await secureRounds.updateOne({ _id: round._id, status: 'summing' }, { $set: { run } });
  return { round: toSecureRound(round), previousRun: round.run };
}

/** Ends a round in `summing`: complete with its aggregate, or failed with why. Shares no longer needed go. */
export async function endSecureRound(
  context: ConnectorContext,
  roundId: string,
  outcome: { readonly aggregate: number } | { readonly failureReason: string },
  now = new Date(),
): Promise<boolean> {
  const { secureRounds } = await context.collections();
  const set = 'aggregate' in outcome ? { status: 'complete' as const, aggregate: outcome.aggregate } : { status: 'failed' as const, failureReason: outcome.failureReason };
  const { modifiedCount } = await secureRounds.updateOne({ _id: roundId, status: 'summing' }, { $set: { ...set, endedOn: now } });
  if (modifiedCount === 1) {
    if (set.status === 'failed') logger.warn('secure round failed', { round: roundId, stage: 'summing', reason: set.failureReason });
    recordMetricBy(MetricName.SecureRoundsEnded, 'outcome', set.status === 'complete' ? 'complete' : 'failed-summing');
  }
  await deleteRoutedShares(context, roundId);
  return modifiedCount === 1;
}

async function deleteRoutedShares(context: ConnectorContext, roundId: string): Promise<void> {
  const { secureRoundMessages } = await context.collections();
  await secureRoundMessages.deleteMany({ round: roundId, stage: { $in: ['shares', 'inbox'] } });
}

async function requireRound(context: ConnectorContext, model: number, number: number, stage: ClientStage): Promise<SecureRoundDocument> {
  await requireSecureModel(context, model);
  const found = await findRound(context, model, number);
  if (found === null) throw new NotFoundError(`Round ${number} of federated model ${model} does not exist`);
  const { document: current } = await advanceDocument(context, found, new Date());
  if (current.status !== stage) {
    throw new ConflictError(`Round ${number} is ${current.status}, not ${stage}: this message is too late for it, or a replay`);
  }
  return current;
}

function alreadySent(round: { number: number }, client: string, stage: ClientStage): ConflictError {
  return new ConflictError(`Client ${client} already sent its ${WHAT_OF_STAGE[stage]} in round ${round.number}: one message per client and stage`);
}

/** Who survived a closed stage. */
function survivorsOf(round: SecureRoundDocument | SecureRound, stage: ClientStage): readonly string[] {
  switch (stage) {
    case 'advertising':
      return round.participants.map((participant) => participant.client);
    case 'sharing':
      return round.sharers;
    case 'masking':
      return round.maskers;
    case 'unmasking':
      return round.revealers;
  }
}

/**
 * Records a client's message of a stage (the `_id` refuses a second one), then closes the stage if
 * it was the last expected. A message that lands while the stage closes counts if the close read
 * it; if not, the client is told (409): the round's survivors are the one truth.
 */
async function accept(
  context: ConnectorContext,
  round: SecureRoundDocument,
  client: string,
  stage: ClientStage,
  content: Partial<SecureRoundMessageDocument>,
  now: Date,
): Promise<SecureRoundStep> {
  const { secureRounds, secureRoundMessages } = await context.collections();
  const type = MESSAGE_OF_STAGE[stage];
  try {
    await secureRoundMessages.insertOne({ _id: messageId(round._id, type, client), round: round._id, stage: type, client, createdOn: now, ...content });
  } catch (error) {
    if (isDuplicateKeyError(error)) throw alreadySent(round, client, stage);
    throw error;
  }
  // Counted on the round itself, guarded by the stage: the close is decided without reading the
  // stage's messages (sharing's hold n ciphertexts each). A count short by a message whose
  // request died between the two writes closes the stage at its deadline instead.
  const counted = await secureRounds.findOneAndUpdate({ _id: round._id, status: stage }, { $inc: { answered: 1 } }, { returnDocument: 'after' });
  const fresh = counted ?? (await secureRounds.findOne({ _id: round._id }))!;
  const step = await advance(context, fresh, now);
  if (step.round.status !== stage && !survivorsOf(step.round, stage).includes(client)) {
    throw new ConflictError(
      step.round.status === 'failed'
        ? `Round ${round.number} failed: ${step.round.failureReason}`
        : `Round ${round.number}'s ${stage} stage closed before this client's ${WHAT_OF_STAGE[stage]} was counted`,
    );
  }
  return step;
}

/** The clients expected to answer a stage: the model's members, then each stage's survivors. */
async function expectedCount(context: ConnectorContext, round: SecureRoundDocument, stage: ClientStage): Promise<number> {
  if (stage !== 'advertising') return survivorsOf(round, previousStage(stage)).length;
  const { modelClients } = await context.collections();
  return modelClients.countDocuments({ federatedModel: round.federatedModel });
}

function previousStage(stage: Exclude<ClientStage, 'advertising'>): ClientStage {
  return CLIENT_STAGES[CLIENT_STAGES.indexOf(stage) - 1]!;
}

/**
 * Closes the round's stage if it is due (every expected client answered, or its deadline passed),
 * moving to the next stage or failing the round when fewer than the threshold answered. Returns
 * the round as it is after, and whether it became ready to sum.
 */
async function advance(context: ConnectorContext, start: SecureRoundDocument, now: Date): Promise<SecureRoundStep> {
  const { document, readyToSum } = await advanceDocument(context, start, now);
  return { round: toSecureRound(document), readyToSum };
}

/** {@link advance}, answering the round's document as it is after. */
async function advanceDocument(context: ConnectorContext, start: SecureRoundDocument, now: Date): Promise<{ document: SecureRoundDocument; readyToSum: boolean }> {
  const { secureRounds, secureRoundMessages } = await context.collections();
  let round = start;
  for (let attempt = 0; attempt < 5; attempt++) {
    const stage = round.status;
    if (!isClientStage(stage)) return { document: round, readyToSum: false };
    const expected = await expectedCount(context, round, stage);
    // Only a stage that closes reads its messages: every accepted message counted itself on the round.
    if (now < round.stageDeadline && (round.answered ?? 0) < expected) return { document: round, readyToSum: false };
    const filter = { round: round._id, stage: MESSAGE_OF_STAGE[stage] };
    const eligible = stage === 'advertising' ? null : new Set(survivorsOf(round, previousStage(stage)));
    const messages = await secureRoundMessages
      .find(filter, { projection: stage === 'advertising' || stage === 'sharing' ? {} : { client: 1 } })
      .toArray();
    const answered = messages.filter((message) => eligible === null || eligible.has(message.client));
    if (answered.length < expected && now < round.stageDeadline) return { document: round, readyToSum: false };
    const threshold = round.options.threshold;
    let set: Partial<SecureRoundDocument>;
    if (answered.length < threshold) {
      set = {
        status: 'failed',
        failureReason: `only ${answered.length} of the ${expected} clients expected sent their ${WHAT_OF_STAGE[stage]} before the ${stage} stage closed; ${threshold} (the threshold) are needed`,
        endedOn: now,
      };
    } else {
      const next = CLIENT_STAGES[CLIENT_STAGES.indexOf(stage) + 1] ?? 'summing';
      set = { status: next, stageDeadline: new Date(now.getTime() + round.options.stage_seconds * 1_000), answered: 0 };
      const clients = answered.map((message) => message.client).sort();
      if (stage === 'advertising') {
        const overflow = overflowProblem(clients.length, round.options);
        if (overflow !== null) set = { status: 'failed', failureReason: overflow, endedOn: now };
        else set.participants = participantsOf(answered);
      }
      if (stage === 'sharing') {
        set.sharers = clients;
        await routeShares(context, round, answered);
      }
      if (stage === 'masking') set.maskers = clients;
      if (stage === 'unmasking') set.revealers = clients;
    }
    const updated = await secureRounds.findOneAndUpdate({ _id: round._id, status: stage }, { $set: set }, { returnDocument: 'after' });
    if (updated === null) {
      round = (await secureRounds.findOne({ _id: round._id }))!; // another request closed it: look again
      continue;
    }
    // Ids and counts only: a round's messages never reach the logs.
    logger.info('secure round stage closed', { round: round._id, stage, next: updated.status, answered: answered.length, expected, threshold });
    recordMetricBy(MetricName.SecureStagesClosed, 'stage', stage);
    if (updated.status === 'failed') {
      logger.warn('secure round failed', { round: round._id, stage, reason: updated.failureReason });
      recordMetricBy(MetricName.SecureRoundsEnded, 'outcome', `failed-${stage}`);
      await deleteRoutedShares(context, round._id);
    }
    return { document: updated, readyToSum: updated.status === 'summing' };
  }
  return { document: round, readyToSum: false };
}

/** The round's participants: the advertisers, indexed 1..n in the order of their client ids. */
function participantsOf(advertisements: readonly SecureRoundMessageDocument[]): SecureRoundParticipant[] {
  return [...advertisements]
    .sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0))
    .map((message, i) => ({ client: message.client, index: i + 1, cPublicKey: message.keys!.cPublicKey, sPublicKey: message.keys!.sPublicKey }));
}

/**
 * Routes the sharers' ciphertexts to their recipients: one inbox per sharer, written whole (a close
 * that is done again writes the same inboxes), before the stage moves on.
 */
async function routeShares(context: ConnectorContext, round: SecureRoundDocument, sent: readonly SecureRoundMessageDocument[]): Promise<void> {
  const { secureRoundMessages } = await context.collections();
  const sharers = new Set(sent.map((message) => message.client));
  const inboxes = new Map<string, { peer: string; ciphertext: string }[]>([...sharers].map((client) => [client, []]));
  for (const message of sent) {
    for (const share of sharesOf(message)) inboxes.get(share.peer)?.push({ peer: message.client, ciphertext: share.ciphertext });
  }
  if (inboxes.size === 0) return;
  await secureRoundMessages.bulkWrite(
    [...inboxes].map(([client, shares]) => ({
      replaceOne: {
        filter: { _id: messageId(round._id, 'inbox', client) },
        replacement: { round: round._id, stage: 'inbox' as const, client, createdOn: new Date(), sharesJson: JSON.stringify(shares) },
        upsert: true,
      },
    })),
    { ordered: false },
  );
}


function sharesOf(message: SecureRoundMessageDocument | null): { peer: string; ciphertext: string }[] {
  return JSON.parse(message?.sharesJson ?? '[]') as { peer: string; ciphertext: string }[];
}
