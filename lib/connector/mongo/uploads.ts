import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { assertUsableByAggregator } from '../../algorithms';
import { assertTakesPlainUpdates } from '../../secure-aggregation/strategy';
import { allocateIds } from '../../db/counters';
import type { ModelUpdateUploadDocument } from '../../db/collections';
import { ClientIdSchema, EntityIdSchema, type ModelUpdate } from '../../entities';
import { ConflictError, ForbiddenError, NotFoundError, TooManyRequestsError, ValidationError } from '../../errors';
import { ObjectNotFoundError } from '../../store';
import {
  assertConsistentShape,
  scaleProblem,
  checkWeightsStream,
  describeEncodedSize,
  encodedByteSize,
  fromStoredWeightsRef,
  toStoredWeightsRef,
  WEIGHTS_DTYPES,
  type WeightsRef,
  WEIGHTS_LIMITS,
} from '../../weights';
import type { ModelUpdateUpload, NewModelUpdateUpload, OpenUploadLimits, UploadCompletionClaim } from '../metadata-connector';
import { parseArgument } from './arguments';
import { requireAggregateOfModel } from './aggregates';
import type { ConnectorContext } from './context';
import { isModelClient } from './model-clients';
import { toModelUpdate } from './documents';
import { admitWeightsShape, assertFitsWeightsShape, requireModel } from './models';
import { Sequence } from './queries';
import { newUpdateDocument } from './updates';
import { newWeightsKey, PRESIGNED_URL_SECONDS } from '../../store/weights';

// Binary updates: declared, uploaded straight to the store with a presigned URL, then checked
// and only then turned into a PENDING update.

/** Limits of one binary upload (a single presigned PUT may carry up to 5 GB). */
export const UploadLimits = {
  maxBytes: 2 * 1024 ** 3,
  maxLayers: 10_000,
  maxDimensions: 8,
  /** How long the presigned PUT URL works. */
  urlSeconds: PRESIGNED_URL_SECONDS,
  /** How long the upload can be completed; after that it is abandoned. */
  uploadSeconds: 60 * 60,
  /** A completion checked in the API function that has not finished after this long (its Lambda died) may be taken over. */
  completionTakeoverSeconds: 120,
  /**
   * The same for a completion handed to the verification function: past its 900 s timeout
   * (serverless.yml, verifyModelUpdateUpload), so a live verification is never taken over.
   */
  verificationTakeoverSeconds: 960,
} as const;

/**
 * Open uploads each hold a PUT URL and, once completed, a streamed check: past either bound of
 * OpenUploadLimits a declaration is 429 with `Retry-After` (until the oldest open one expires).
 */
export const DEFAULT_OPEN_UPLOAD_LIMITS: OpenUploadLimits = { maxOpen: 4, maxOpenBytes: 4 * 1024 ** 3 };

export const NewModelUpdateUploadSchema = z.object({
  federatedModel: EntityIdSchema,
  client: ClientIdSchema,
  baseAggregate: EntityIdSchema.nullable().default(null),
  numExamples: z.number().int().nonnegative().nullable().default(null),
  dtype: z.enum(WEIGHTS_DTYPES),
  /** Shape of each layer; one layer with `layout: 'vector'` is a flat list. */
  shapes: z
    .array(z.array(z.number().int().positive()).min(1).max(UploadLimits.maxDimensions))
    .min(1)
    .max(UploadLimits.maxLayers, `must hold at most ${UploadLimits.maxLayers} layers`),
  layout: z.enum(['vector', 'layers']).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the bytes (64 lowercase hex digits)'),
});


/**
 * Declares a binary update and returns a presigned URL to PUT its bytes to. Everything that can be
 * checked before the bytes arrive is checked here (the model, membership, base aggregate, shape,
 * size); nothing claimable exists until the upload is completed.
 */
export async function createModelUpdateUpload(
  context: ConnectorContext,
  input: NewModelUpdateUpload,
  limits: OpenUploadLimits = DEFAULT_OPEN_UPLOAD_LIMITS,
): Promise<ModelUpdateUpload> {
  const parsed = parseArgument(NewModelUpdateUploadSchema, input, 'upload');
  const model = await requireModel(context, parsed.federatedModel);
  if (!(await isModelClient(context, model.id, parsed.client))) {
    throw new ForbiddenError(`Client ${parsed.client} is not a client of federated model ${model.id}`);
  }
  if (model.updateSchema !== null) {
    // A JSON Schema speaks of JSON values; checking it on millions of streamed values is not done.
    const message = `federated model ${model.id} has an update_schema, which is checked on JSON updates only: send this model's updates as JSON (POST /api/v1/model_updates/)`;
    throw new ValidationError(`federated_model ${message}`, { details: [{ field: 'federated_model', message }] });
  }
  assertTakesPlainUpdates(model);
  if (parsed.baseAggregate !== null) await requireAggregateOfModel(context, parsed.baseAggregate, model.id, 'base_aggregate');
  assertUsableByAggregator(model.aggregator, parsed.numExamples);
  const layout = parsed.layout ?? (parsed.shapes.length === 1 && parsed.shapes[0]!.length === 1 ? 'vector' : 'layers');
  if (layout === 'vector' && (parsed.shapes.length !== 1 || parsed.shapes[0]!.length !== 1)) {
    throw new ValidationError('shapes: a vector has exactly one one-dimensional shape', {
      details: [{ field: 'shapes', message: 'a vector has exactly one one-dimensional shape' }],
    });
  }
  const length = parsed.shapes.reduce((sum, dims) => sum + dims.reduce((product, d) => product * d, 1), 0);
  const byteSize = encodedByteSize(parsed.dtype, length);
  if (byteSize > UploadLimits.maxBytes) {
    throw new ValidationError(`shapes: ${byteSize} bytes is more than the ${UploadLimits.maxBytes} an upload may hold`, {
      details: [{ field: 'shapes', message: `at most ${UploadLimits.maxBytes} bytes` }],
    });
  }
  const shape = { layout, shapes: parsed.shapes, length } as const;
  assertConsistentShape(shape, 'shapes');
  // Checked against the shape the model has, but admitted only when verified bytes complete: a
  // declaration alone must not fix a fresh model's shape for everyone (issue #24).
  assertFitsWeightsShape(model, shape, 'shapes');

  const id = randomUUID();
  const declared: WeightsRef = { key: `uploads/${model.id}/${id}`, dtype: parsed.dtype, ...shape, byteSize, sha256: parsed.sha256 };
  const now = new Date();
  const document: ModelUpdateUploadDocument = {
    _id: id,
    federatedModel: model.id,
    client: parsed.client,
    baseAggregate: parsed.baseAggregate,
    numExamples: parsed.numExamples,
    declared: toStoredWeightsRef(declared),
    status: 'open',
    completingSince: null,
    update: null,
    reason: null,
    createdOn: now,
    expiresAt: new Date(now.getTime() + UploadLimits.uploadSeconds * 1_000),
  };
  const url = await context.store().presignPut(declared.key, {
    expiresInSeconds: UploadLimits.urlSeconds,
    contentLength: byteSize,
    contentType: 'application/octet-stream',
  });
  const { modelUpdateUploads } = await context.collections();
  await modelUpdateUploads.insertOne(document);
  await assertWithinOpenUploadLimits(context, document, limits);
  return {
    id,
    federatedModel: model.id,
    declared,
    expiresAt: document.expiresAt,
    url,
    urlExpiresAt: new Date(now.getTime() + UploadLimits.urlSeconds * 1_000),
  };
}

/**
 * Inserted first, counted after: of concurrent declarations past a bound, each sees the others and
 * withdraws its own, so the bound is never exceeded (at worst, a racing one is refused too early).
 */
async function assertWithinOpenUploadLimits(context: ConnectorContext, upload: ModelUpdateUploadDocument, limits: OpenUploadLimits): Promise<void> {
  const { modelUpdateUploads } = await context.collections();
  const open = await modelUpdateUploads
    .find(
      { federatedModel: upload.federatedModel, client: upload.client, status: { $in: ['open', 'completing'] }, expiresAt: { $gt: upload.createdOn } },
      { projection: { 'declared.byteSize': 1, expiresAt: 1 } },
    )
    .toArray();
  const bytes = open.reduce((sum, found) => sum + found.declared.byteSize, 0);
  if (open.length <= limits.maxOpen && bytes <= limits.maxOpenBytes) return;
  await modelUpdateUploads.deleteOne({ _id: upload._id });
  const others = open.filter((found) => found._id !== upload._id);
  const soonest = Math.min(...others.map((found) => found.expiresAt.getTime()), upload.expiresAt.getTime());
  const bound = open.length > limits.maxOpen ? `${limits.maxOpen} open uploads` : `${limits.maxOpenBytes} declared bytes in open uploads`;
  throw new TooManyRequestsError(
    `This client already has ${others.length} uploads open on federated model ${upload.federatedModel}; at most ${bound} are allowed. Complete them, or retry after the oldest expires.`,
    (soonest - Date.now()) / 1_000,
  );
}

/**
 * Takes the completion of a binary upload for this caller: one at a time, so the bytes are copied
 * and checked once. Uploads of more than `verifyInlineMaxBytes` are verified by the verification
 * function, the rest by the caller. A holder that died is taken over after the bound of whichever
 * verifies it (UploadLimits), so a live holder is never taken from. Refused, expired and other
 * clients' uploads are refused here, before anything is read from the store.
 */
export async function claimModelUpdateUploadCompletion(
  context: ConnectorContext,
  uploadId: string,
  client: string,
  verifyInlineMaxBytes: number = Number.POSITIVE_INFINITY,
): Promise<UploadCompletionClaim> {
  const id = parseArgument(z.uuid({ error: 'must be an upload id' }), uploadId, 'upload');
  const { modelUpdateUploads } = await context.collections();
  const upload = await modelUpdateUploads.findOne({ _id: id });
  if (upload === null || upload.client !== client) throw new NotFoundError(`Upload ${id} does not exist`);
  if (upload.status === 'complete') return { state: 'complete', update: await requireUpdateOfUpload(context, id) };
  if (upload.status === 'refused') throw refused(upload.reason ?? 'it was refused');

  const now = new Date();
  if (upload.status === 'open' && upload.expiresAt <= now) throw refused('it expired before it was completed; start a new upload');
  const byteSize = upload.declared.byteSize;
  const inline = byteSize <= verifyInlineMaxBytes;
  const takeoverSeconds = inline ? UploadLimits.completionTakeoverSeconds : UploadLimits.verificationTakeoverSeconds;
  const takeover = new Date(now.getTime() - takeoverSeconds * 1_000);
  const { modifiedCount } = await modelUpdateUploads.updateOne(
    { _id: id, $or: [{ status: 'open' }, { status: 'completing', completingSince: { $lt: takeover } }] },
    { $set: { status: 'completing', completingSince: now } },
  );
  if (modifiedCount === 1) return { state: 'claimed', byteSize, inline };
  const current = await modelUpdateUploads.findOne({ _id: id });
  if (current?.status === 'complete') return { state: 'complete', update: await requireUpdateOfUpload(context, id) };
  if (current?.status === 'refused') throw refused(current.reason ?? 'it was refused');
  return { state: 'verifying', byteSize, inline };
}

/**
 * Verifies a claimed upload and makes it an update: copies the bytes to their place (a key no
 * client can write), then streams that copy once to check its size, SHA-256 and that every value
 * is finite, so the bytes checked are the bytes kept, whatever a client PUTs meanwhile (issue
 * #24). Only then is the model's shape admitted and the PENDING update created. Bytes that fail a
 * check are deleted and the upload is refused (400), with nothing stored as an update; a client
 * no longer a member of the model is refused (403) the same way. Run by whoever claimed the
 * completion: the API function for small uploads, the verification function for large ones.
 */
export async function verifyModelUpdateUpload(context: ConnectorContext, uploadId: string): Promise<{ update: ModelUpdate; created: boolean }> {
  const id = parseArgument(z.uuid({ error: 'must be an upload id' }), uploadId, 'upload');
  const { modelUpdateUploads, modelUpdates, counters } = await context.collections();
  const upload = await modelUpdateUploads.findOne({ _id: id });
  if (upload === null) throw new NotFoundError(`Upload ${id} does not exist`);
  if (upload.status === 'complete') return { update: await requireUpdateOfUpload(context, id), created: false };
  if (upload.status === 'refused') throw refused(upload.reason ?? 'it was refused');
  if (upload.status !== 'completing') throw new ConflictError(`Upload ${id} is not being completed: complete it first`);

  const declared = fromStoredWeightsRef(upload.declared);
  const client = upload.client;
  // A completion that died after inserting the update left it behind: use it, never a second one.
  const existing = await modelUpdates.findOne({ upload: id });
  let document = existing;
  if (document === null) {
    const ref: WeightsRef = { ...declared, key: newWeightsKey('updates', upload.federatedModel) };
    const refuse = async (problem: string, error: Error = refused(problem)) => {
      await context.store().delete([declared.key, ref.key]);
      await modelUpdateUploads.updateOne({ _id: id }, { $set: { status: 'refused', reason: problem } });
      throw error;
    };
    if (!(await isModelClient(context, upload.federatedModel, client))) {
      const problem = `client ${client} is no longer a client of federated model ${upload.federatedModel}`;
      return refuse(problem, new ForbiddenError(`The upload was refused: ${problem}`));
    }
    const problem = (await copyUploadedBytes(context, declared, ref.key)) ?? (await checkStoredBytes(context, { ...declared, key: ref.key }));
    if (problem !== null) return refuse(problem);
    try {
      await admitWeightsShape(context, await requireModel(context, upload.federatedModel), declared, 'shapes');
    } catch (error) {
      if (error instanceof ValidationError) return refuse(error.details[0]?.message ?? error.message);
      throw error;
    }
    document = {
      ...newUpdateDocument(await allocateIds(counters, Sequence.updates), upload, ref),
      upload: id,
    };
    await modelUpdates.insertOne(document);
  }
  await modelUpdateUploads.updateOne({ _id: id }, { $set: { status: 'complete', update: document._id } });
  await context.store().delete([declared.key]);
  return { update: toModelUpdate(document), created: existing === null };
}

/**
 * Completes a binary upload in this call: claims it, then verifies it
 * ({@link verifyModelUpdateUpload}). Completing again answers the same update (`created: false`);
 * while another caller holds the completion, a 409.
 */
export async function completeModelUpdateUpload(
  context: ConnectorContext,
  uploadId: string,
  client: string,
): Promise<{ update: ModelUpdate; created: boolean }> {
  const claim = await claimModelUpdateUploadCompletion(context, uploadId, client);
  if (claim.state === 'complete') return { update: claim.update, created: false };
  if (claim.state === 'verifying') throw new ConflictError(`Upload ${uploadId} is being completed by another request; try again shortly`);
  return verifyModelUpdateUpload(context, uploadId);
}

/**
 * Copies what the client uploaded to `destination` (server-side), or says why not: nothing
 * uploaded, or not the declared size (told from HEAD, before any copy).
 */
async function copyUploadedBytes(context: ConnectorContext, declared: WeightsRef, destination: string): Promise<string | null> {
  const store = context.store();
  const info = await store.head(declared.key);
  if (info === null) return 'no bytes were uploaded to its URL';
  if (info.size !== declared.byteSize) {
    return `${info.size} bytes were uploaded, but ${describeEncodedSize(declared.dtype, declared.length)} are ${declared.byteSize} bytes`;
  }
  try {
    await store.copy(declared.key, destination);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return 'no bytes were uploaded to its URL';
    throw error;
  }
  return null;
}

/** What is wrong with the stored bytes, or null when they are what was declared. */
async function checkStoredBytes(context: ConnectorContext, declared: WeightsRef): Promise<string | null> {
  const store = context.store();
  let check;
  try {
    check = await checkWeightsStream(await store.getStream(declared.key), declared.dtype);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return 'no bytes were uploaded to its URL';
    throw error;
  }
  if (check.byteSize !== declared.byteSize) return `${check.byteSize} bytes were read, not ${declared.byteSize}`;
  if (check.sha256 !== declared.sha256) return `the bytes' SHA-256 is ${check.sha256}, not the declared ${declared.sha256}`;
  if (check.firstBadScale !== null) return scaleProblem(check.firstBadScale);
  if (check.firstNonFinite !== null) return `value ${check.firstNonFinite} is NaN or infinite; weights must be finite`;
  if (check.firstTooLarge !== null) {
    return `value ${check.firstTooLarge} is beyond ${WEIGHTS_LIMITS.maxMagnitude} in magnitude, the limit that keeps aggregation from overflowing`;
  }
  return null;
}

async function requireUpdateOfUpload(context: ConnectorContext, upload: string): Promise<ModelUpdate> {
  const { modelUpdates } = await context.collections();
  const found = await modelUpdates.findOne({ upload });
  if (found === null) throw new ConflictError(`Upload ${upload} is complete but its update is missing`);
  return toModelUpdate(found);
}

function refused(reason: string): ValidationError {
  return new ValidationError(`The upload was refused: ${reason}`, { details: [{ field: 'upload', message: reason }] });
}

