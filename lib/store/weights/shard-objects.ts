import { createHash } from 'node:crypto';
import { AggregationError } from '../../algorithms';
import type { OptimizerState } from '../../algorithms/strategies';
import type { OptimizerStateRef } from '../../entities/aggregate-strategy';
import {
  allocateWeightsBuffer,
  decodeValues,
  encodedRange,
  float64Bytes,
  isNativeDtype,
  maxEncodedRangeBytes,
  valuesView,
  type WeightsDtype,
  type WeightsRef,
} from '../../weights';
import { ObjectNotFoundError } from '../errors';
import type { ObjectStore } from '../object-store';
import { ShardManifestSchema, shardManifestKeys, ShardReductionSchema, type ShardItem, type ShardManifest, type ShardReduction } from './shard-manifest';
import { newWeightsKey, readInOrder } from './weight-bytes';

// The object-store side of sharded aggregation (issue #14): the run's manifest, its shards'
// partial sums and reduction, ranged reads of a coordinate range, the parts of the multipart
// uploads and completing them. Recording the aggregate and abandoning a run's uploads also read
// the database: they stay in the connector (lib/connector/mongo/shards.ts) and call these.

/** Writes the manifest and the shard list the Map's ItemReader reads (a JSON array, one item per shard). */
export async function putShardManifest(store: ObjectStore, manifest: ShardManifest): Promise<{ bucket: string; manifest: string; shardList: string }> {
  const keys = shardManifestKeys(manifest.model, manifest.run);
  const items: ShardItem[] = manifest.shards.map((_, shard) => ({ shard }));
  await store.put(keys.manifest, new TextEncoder().encode(JSON.stringify(manifest)), { contentType: 'application/json' });
  await store.put(keys.shardList, new TextEncoder().encode(JSON.stringify(items)), { contentType: 'application/json' });
  return { bucket: store.bucket, manifest: keys.manifest, shardList: keys.shardList };
}

/** The run's manifest, or null when the run wrote none (it was not sharded, or failed before). */
export async function pullShardManifest(store: ObjectStore, model: number, run: string): Promise<ShardManifest | null> {
  const text = await readText(store, shardManifestKeys(model, run).manifest);
  return text === null ? null : ShardManifestSchema.parse(JSON.parse(text));
}

/** Stores a shard's partial sums of the first pass (exact-sum window counts, float64). */
export async function putShardMeasure(store: ObjectStore, model: number, run: string, shard: number, windows: Float64Array): Promise<void> {
  await putFloat64Object(store, shardManifestKeys(model, run).measure(shard), windows);
}

/** A shard's partial sums, which must hold `length` values; missing: AggregationError. */
export async function pullShardMeasure(store: ObjectStore, model: number, run: string, shard: number, length: number): Promise<Float64Array> {
  const key = shardManifestKeys(model, run).measure(shard);
  const buffer = allocateWeightsBuffer(length * 8);
  let read: number;
  try {
    read = await store.readInto(key, buffer);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) throw new AggregationError(`shard ${shard} of run ${run} stored no partial sums`, { cause: error });
    throw error;
  }
  if (read !== length * 8) throw new AggregationError(`the partial sums of shard ${shard} of run ${run} hold ${read} bytes, not ${length * 8}`);
  return valuesView(buffer, 'float64', length) as Float64Array;
}

export async function putShardReduction(store: ObjectStore, model: number, run: string, reduction: ShardReduction): Promise<void> {
  await store.put(shardManifestKeys(model, run).reduction, new TextEncoder().encode(JSON.stringify(reduction)), { contentType: 'application/json' });
}

export async function pullShardReduction(store: ObjectStore, model: number, run: string): Promise<ShardReduction> {
  const text = await readText(store, shardManifestKeys(model, run).reduction);
  if (text === null) throw new AggregationError(`run ${run} has no reduction of its shards' partial sums`);
  return ShardReductionSchema.parse(JSON.parse(text));
}

/** The shard list as the ItemReader reads it (the local executor's stand-in for the ItemReader). */
export async function pullShardItems(store: ObjectStore, key: string): Promise<ShardItem[]> {
  const text = await readText(store, key);
  if (text === null) throw new AggregationError(`no shard list under ${key}`);
  return JSON.parse(text) as ShardItem[];
}

async function readText(store: ObjectStore, key: string): Promise<string | null> {
  const info = await store.head(key);
  if (info === null) return null;
  const bytes = new Uint8Array(info.size);
  const read = await store.readInto(key, bytes);
  return new TextDecoder().decode(bytes.subarray(0, read));
}

/** Starts the multipart uploads of a sharded run: the aggregate's and (K > 1) the optimizer state's. */
export async function startShardedUploads(
  store: ObjectStore,
  model: number,
  options: { readonly optimizerState: boolean; readonly shards: number },
): Promise<{ aggregate: { key: string; uploadId: string }; optimizerState: { key: string; uploadId: string | null } | null }> {
  const aggregateKey = newWeightsKey('aggregates', model);
  const aggregate = { key: aggregateKey, uploadId: await store.createMultipart(aggregateKey) };
  if (!options.optimizerState) return { aggregate, optimizerState: null };
  const stateKey = `optimizer-state/${model}/${aggregateKey.split('/').at(-1)}`;
  const uploadId = options.shards > 1 ? await store.createMultipart(stateKey) : null;
  return { aggregate, optimizerState: { key: stateKey, uploadId } };
}

/**
 * Reads values [start, end) of each set of weights with one ranged GET each, `concurrency` in
 * flight into reused buffers, and hands them to `visit` in the order given (so a sum over them is
 * the same, bit for bit, as the single task's). A missing object or a short read is an
 * AggregationError naming the key. Encoded updates are read as the whole int8 blocks (scales
 * included) that cover the range and decoded into one reused float32 array, as the single task does.
 */
export async function streamWeightRanges(
  store: ObjectStore,
  refs: readonly WeightsRef[],
  range: { readonly start: number; readonly end: number },
  visit: (values: Float32Array | Float64Array, index: number) => void,
  concurrency = 4,
): Promise<void> {
  const length = range.end - range.start;
  const scratch = refs.some((ref) => !isNativeDtype(ref.dtype)) ? new Float32Array(length) : undefined;
  const skips: number[] = [];
  await readInOrder(
    refs.length,
    concurrency,
    Math.max(...refs.map((ref) => maxEncodedRangeBytes(ref.dtype, length))),
    async (index, buffer) => {
      skips[index] = await readRange(store, refs[index]!.key, refs[index]!.dtype, refs[index]!.length, range.start, length, buffer);
    },
    (buffer, index) => visit(decodeValues(buffer, refs[index]!.dtype, length, scratch, skips[index]), index),
  );
}

async function readRange(
  store: ObjectStore,
  key: string,
  dtype: WeightsDtype,
  total: number,
  start: number,
  length: number,
  target: Uint8Array,
): Promise<number> {
  if (start + length > total) throw new AggregationError(`${key} holds ${total} values; values ${start}-${start + length} were asked for`);
  const range = encodedRange(dtype, total, start, start + length);
  const bytes = range.end - range.start;
  let read: number;
  try {
    read = await store.readInto(key, target.subarray(0, bytes), { start: range.start, end: range.end - 1 });
  } catch (error) {
    if (error instanceof ObjectNotFoundError) throw new AggregationError(`Stored weights ${key} are missing`, { cause: error });
    throw error;
  }
  if (read !== bytes) throw new AggregationError(`Stored weights ${key} are corrupt: ${read} of ${bytes} bytes at value ${start}`);
  // The values to skip at the start (int8: those of the first block before `start`).
  return start - range.firstValue;
}

/** Values [start, start + length) of stored weights, as float64 (x_t's range for a shard). */
export async function readWeightsRange(store: ObjectStore, ref: WeightsRef, start: number, length: number): Promise<Float64Array> {
  const buffer = allocateWeightsBuffer(maxEncodedRangeBytes(ref.dtype, length));
  const skip = await readRange(store, ref.key, ref.dtype, ref.length, start, length, buffer);
  const view = decodeValues(buffer, ref.dtype, length, isNativeDtype(ref.dtype) ? undefined : new Float32Array(length), skip);
  return view instanceof Float64Array ? view : Float64Array.from(view);
}

/** The optimizer's previous moments for values [start, start + length) (each moment one ranged GET). */
export async function readOptimizerStateRange(store: ObjectStore, ref: OptimizerStateRef, start: number, length: number): Promise<OptimizerState> {
  if (ref.byteSize !== ref.length * ref.components.length * 8) throw new AggregationError(`optimizer state ${ref.key}: inconsistent size`);
  const part = async (name: 'm' | 'v') => {
    const index = ref.components.indexOf(name);
    if (index < 0) return null;
    const buffer = allocateWeightsBuffer(length * 8);
    await readRange(store, ref.key, 'float64', ref.length * ref.components.length, index * ref.length + start, length, buffer);
    return valuesView(buffer, 'float64', length) as Float64Array;
  };
  return { m: (await part('m'))!, v: await part('v') };
}

/** Uploads one shard's float64 values as part `partNumber` of a multipart upload (a retry replaces it). */
export async function uploadShardPart(store: ObjectStore, key: string, uploadId: string, partNumber: number, values: Float64Array): Promise<void> {
  const { bytes } = float64Bytes(values);
  await store.uploadPart(key, uploadId, partNumber, bytes, { contentLength: bytes.byteLength });
}

/** Writes a whole object of float64 values (the optimizer's state of a run with one shard). */
export async function putFloat64Object(store: ObjectStore, key: string, values: Float64Array): Promise<void> {
  const { bytes } = float64Bytes(values);
  await store.put(key, bytes, { contentLength: bytes.byteLength, contentType: 'application/octet-stream' });
}

/**
 * Joins the parts of an upload into its object, after checking that every part is there with
 * the size the plan expects; a retried call whose upload is already complete finds the object.
 */
export async function completeUpload(store: ObjectStore, key: string, uploadId: string, partSizes: readonly number[]): Promise<void> {
  let parts;
  try {
    parts = await store.listParts(key, uploadId);
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
    // Completed by an earlier attempt whose answer was lost: the object is there, whole.
    const info = await store.head(key);
    const expected = partSizes.reduce((sum, size) => sum + size, 0);
    if (info?.size === expected) return;
    throw new AggregationError(`the multipart upload of ${key} is gone and the object is not whole`, { cause: error });
  }
  const problems = partSizes.flatMap((size, i) => {
    const part = parts.find((candidate) => candidate.partNumber === i + 1);
    if (part === undefined) return [`part ${i + 1} is missing`];
    return part.size === size ? [] : [`part ${i + 1} holds ${part.size} bytes, not ${size}`];
  });
  if (problems.length > 0 || parts.length !== partSizes.length) {
    throw new AggregationError(`the parts of ${key} do not match the plan: ${problems.join('; ') || `${parts.length} parts for ${partSizes.length}`}`);
  }
  await store.completeMultipart(key, uploadId, parts);
}

/** The SHA-256 and size of a stored object, read once as a stream. */
export async function hashObject(store: ObjectStore, key: string): Promise<{ sha256: string; byteSize: number }> {
  const hash = createHash('sha256');
  let byteSize = 0;
  for await (const chunk of (await store.getStream(key)) as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    byteSize += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), byteSize };
}

/**
 * The weights of `refs` that can never be read as their reference says (object gone, or of
 * another size), each with the reason, found with HEAD requests (16 at a time) before a sharded
 * run is planned: a shard cannot set an update aside, so the plan does, as the single task would.
 */
export async function findUnreadableWeights(store: ObjectStore, refs: readonly WeightsRef[]): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  let next = 0;
  const worker = async () => {
    while (next < refs.length) {
      const index = next;
      next += 1;
      const ref = refs[index]!;
      const info = await store.head(ref.key);
      if (info === null) found.set(index, `Stored weights ${ref.key} are missing`);
      else if (info.size !== ref.byteSize) found.set(index, `Stored weights ${ref.key} are corrupt: ${info.size} of ${ref.byteSize} bytes`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, refs.length) }, worker));
  return found;
}
