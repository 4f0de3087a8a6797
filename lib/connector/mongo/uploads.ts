import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { assertUsableByAggregator } from '../../algorithms';
import { allocateIds } from '../../db/counters';
import type { ModelUpdateUploadDocument } from '../../db/collections';
import { ClientIdSchema, EntityIdSchema, type ModelUpdate } from '../../entities';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../errors';
import { ObjectNotFoundError } from '../../store';
import {
  assertConsistentShape,
  BYTES_PER_VALUE,
  checkWeightsStream,
  fromStoredWeightsRef,
  toStoredWeightsRef,
  WEIGHTS_DTYPES,
  type WeightsRef,
  WEIGHTS_LIMITS,
} from '../../weights';
import { parseArgument } from './arguments';
import { requireAggregateOfModel } from './aggregates';
import type { ConnectorContext } from './context';
import { isModelClient } from './model-clients';
import { toModelUpdate } from './documents';
import { admitWeightsShape, requireModel } from './models';
import { Sequence } from './queries';
import { newUpdateDocument } from './updates';
import { newWeightsKey } from './weights';

// Binary updates: declared, uploaded straight to the store with a presigned URL, then checked
// and only then turned into a PENDING update.

/** Limits of one binary upload (a single presigned PUT may carry up to 5 GB). */
export const UploadLimits = {
  maxBytes: 2 * 1024 ** 3,
  maxLayers: 10_000,
  maxDimensions: 8,
  /** How long the presigned PUT URL works. */
  urlSeconds: 15 * 60,
  /** How long the upload can be completed; after that it is abandoned. */
  uploadSeconds: 60 * 60,
  /** A completion that has not finished after this long (its Lambda died) may be taken over. */
  completionTakeoverSeconds: 120,
} as const;

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

export type NewModelUpdateUpload = z.input<typeof NewModelUpdateUploadSchema>;

export interface ModelUpdateUpload {
  readonly id: string;
  readonly federatedModel: number;
  readonly declared: WeightsRef;
  readonly expiresAt: Date;
  /** Where to PUT the bytes, and until when the URL works. */
  readonly url: string;
  readonly urlExpiresAt: Date;
}

/**
 * Declares a binary update and returns a presigned URL to PUT its bytes to. Everything that can be
 * checked before the bytes arrive is checked here (the model, membership, base aggregate, shape,
 * size); nothing claimable exists until the upload is completed.
 */
export async function createModelUpdateUpload(context: ConnectorContext, input: NewModelUpdateUpload): Promise<ModelUpdateUpload> {
  const parsed = parseArgument(NewModelUpdateUploadSchema, input, 'upload');
  const model = await requireModel(context, parsed.federatedModel);
  if (!(await isModelClient(context, model.id, parsed.client))) {
    throw new ForbiddenError(`Client ${parsed.client} is not a client of federated model ${model.id}`);
  }
  if (parsed.baseAggregate !== null) await requireAggregateOfModel(context, parsed.baseAggregate, model.id, 'base_aggregate');
  assertUsableByAggregator(model.aggregator, parsed.numExamples);
  const layout = parsed.layout ?? (parsed.shapes.length === 1 && parsed.shapes[0]!.length === 1 ? 'vector' : 'layers');
  if (layout === 'vector' && (parsed.shapes.length !== 1 || parsed.shapes[0]!.length !== 1)) {
    throw new ValidationError('shapes: a vector has exactly one one-dimensional shape', {
      details: [{ field: 'shapes', message: 'a vector has exactly one one-dimensional shape' }],
    });
  }
  const length = parsed.shapes.reduce((sum, dims) => sum + dims.reduce((product, d) => product * d, 1), 0);
  const byteSize = length * BYTES_PER_VALUE[parsed.dtype];
  if (byteSize > UploadLimits.maxBytes) {
    throw new ValidationError(`shapes: ${byteSize} bytes is more than the ${UploadLimits.maxBytes} an upload may hold`, {
      details: [{ field: 'shapes', message: `at most ${UploadLimits.maxBytes} bytes` }],
    });
  }
  const shape = { layout, shapes: parsed.shapes, length } as const;
  assertConsistentShape(shape, 'shapes');
  await admitWeightsShape(context, model, shape, 'shapes');

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
 * Completes a binary upload: streams the stored bytes once to check their size, SHA-256 and that
 * every value is finite, then moves them to their place and creates the PENDING update. Bytes that
 * fail a check are deleted and the upload is refused (400), with nothing stored as an update.
 * Completing again answers the same update (`created: false`); only one caller checks at a time.
 */
export async function completeModelUpdateUpload(
  context: ConnectorContext,
  uploadId: string,
  client: string,
): Promise<{ update: ModelUpdate; created: boolean }> {
  const id = parseArgument(z.uuid({ error: 'must be an upload id' }), uploadId, 'upload');
  const { modelUpdateUploads, modelUpdates, counters } = await context.collections();
  const upload = await modelUpdateUploads.findOne({ _id: id });
  if (upload === null || upload.client !== client) throw new NotFoundError(`Upload ${id} does not exist`);
  if (upload.status === 'complete') return { update: await requireUpdateOfUpload(context, id), created: false };
  if (upload.status === 'refused') throw refused(upload.reason ?? 'it was refused');

  const now = new Date();
  if (upload.expiresAt <= now) throw refused('it expired before it was completed; start a new upload');
  const takeover = new Date(now.getTime() - UploadLimits.completionTakeoverSeconds * 1_000);
  const { modifiedCount } = await modelUpdateUploads.updateOne(
    { _id: id, $or: [{ status: 'open' }, { status: 'completing', completingSince: { $lt: takeover } }] },
    { $set: { status: 'completing', completingSince: now } },
  );
  if (modifiedCount === 0) {
    const current = await modelUpdateUploads.findOne({ _id: id });
    if (current?.status === 'complete') return { update: await requireUpdateOfUpload(context, id), created: false };
    throw new ConflictError(`Upload ${id} is being completed by another request; try again shortly`);
  }

  const declared = fromStoredWeightsRef(upload.declared);
  const problem = await checkUploadedBytes(context, declared);
  if (problem !== null) {
    await context.store().delete([declared.key]);
    await modelUpdateUploads.updateOne({ _id: id }, { $set: { status: 'refused', reason: problem } });
    throw refused(problem);
  }

  // A completion that died after inserting the update left it behind: use it, never a second one.
  const existing = await modelUpdates.findOne({ upload: id });
  let document = existing;
  if (document === null) {
    const ref: WeightsRef = { ...declared, key: newWeightsKey('updates', upload.federatedModel) };
    await context.store().copy(declared.key, ref.key);
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

/** What is wrong with the uploaded bytes, or null when they are what was declared. */
async function checkUploadedBytes(context: ConnectorContext, declared: WeightsRef): Promise<string | null> {
  const store = context.store();
  const info = await store.head(declared.key);
  if (info === null) return 'no bytes were uploaded to its URL';
  if (info.size !== declared.byteSize) {
    return `${info.size} bytes were uploaded, but ${declared.length} ${declared.dtype} values are ${declared.byteSize} bytes`;
  }
  let check;
  try {
    check = await checkWeightsStream(await store.getStream(declared.key), declared.dtype);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return 'no bytes were uploaded to its URL';
    throw error;
  }
  if (check.byteSize !== declared.byteSize) return `${check.byteSize} bytes were read, not ${declared.byteSize}`;
  if (check.sha256 !== declared.sha256) return `the bytes' SHA-256 is ${check.sha256}, not the declared ${declared.sha256}`;
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

/** Where weights can be downloaded from for a while (a presigned GET URL), with what they are. */
export async function presignWeightsDownload(
  context: ConnectorContext,
  ref: WeightsRef,
  expiresInSeconds = UploadLimits.urlSeconds,
): Promise<{ url: string; expiresAt: Date }> {
  const url = await context.store().presignGet(ref.key, { expiresInSeconds });
  return { url, expiresAt: new Date(Date.now() + expiresInSeconds * 1_000) };
}

