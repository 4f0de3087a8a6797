import { createHash, randomUUID } from 'node:crypto';
import {
  allocateWeightsBuffer,
  decodeValues,
  float64Bytes,
  isNativeDtype,
  weightsFromBytes,
  type Weights,
  type WeightsRef,
  assertFiniteWeights,
  UnreadableWeightsError,
} from '../../weights';
import { ObjectNotFoundError } from '../errors';
import type { ObjectStore } from '../object-store';

// Weight bytes in the object store. Documents hold a WeightsRef; only this module moves bytes.

/** How long a presigned URL to weights works (a download, an upload's PUT). */
export const PRESIGNED_URL_SECONDS = 15 * 60;

/** Where weights can be downloaded from for a while (a presigned GET URL), and until when. */
export async function presignWeightsDownload(
  store: ObjectStore,
  ref: WeightsRef,
  expiresInSeconds = PRESIGNED_URL_SECONDS,
): Promise<{ url: string; expiresAt: Date }> {
  const url = await store.presignGet(ref.key, { expiresInSeconds });
  return { url, expiresAt: new Date(Date.now() + expiresInSeconds * 1_000) };
}

/** What a set of weights is for; the first part of its key. */
export type WeightsKind = 'updates' | 'aggregates' | 'artifacts';

/**
 * A fresh key for new weights. Random, not derived from an id, so bytes can be written before the
 * document that refers to them, and a retried or rejected write never overwrites another's bytes.
 */
export function newWeightsKey(kind: WeightsKind, model: number): string {
  return `${kind}/${model}/${randomUUID()}`;
}

/** Stores weights as little-endian float64 and returns their reference. */
export async function putWeights(store: ObjectStore, kind: WeightsKind, model: number, weights: Weights): Promise<WeightsRef> {
  const { bytes, sha256 } = float64Bytes(weights.values);
  const key = newWeightsKey(kind, model);
  await store.put(key, bytes, { contentLength: bytes.byteLength, contentType: 'application/octet-stream' });
  return {
    key,
    dtype: 'float64',
    layout: weights.layout,
    shapes: weights.shapes,
    length: weights.values.length,
    byteSize: bytes.byteLength,
    sha256,
  };
}

/** Reads weights whole into memory (as float64), checking their size against the reference. */
export async function readWeights(store: ObjectStore, ref: WeightsRef): Promise<Weights> {
  const bytes = allocateWeightsBuffer(ref.byteSize);
  const read = await store.readInto(ref.key, bytes);
  if (read !== ref.byteSize) throw new Error(`Stored weights ${ref.key} are corrupt: ${read} of ${ref.byteSize} bytes`);
  return weightsFromBytes(ref, bytes);
}

/** How many objects a streamed read keeps in flight: reads overlap, memory stays bounded. */
export const DEFAULT_READ_CONCURRENCY = 4;

/**
 * Reads each set of weights in turn into one of `concurrency` reused buffers and hands its values
 * to `visit` in the order given (so a sum over them is the same, bit for bit, however the reads
 * interleave). At most `concurrency` buffers exist at a time: memory is concurrency × the largest
 * object, whatever the number of objects. Encoded updates (float16, bfloat16, int8) are decoded
 * into one float32 array that every one of them reuses (visits are one at a time): + 4 bytes a
 * value, so a float16 round holds 4 × 2 + 4 bytes a value where a float32 one holds 4 × 4.
 */
export async function streamWeights(
  store: ObjectStore,
  refs: readonly WeightsRef[],
  visit: (values: Float32Array | Float64Array, index: number) => void,
  concurrency = DEFAULT_READ_CONCURRENCY,
): Promise<void> {
  if (refs.length === 0) return;
  const largest = Math.max(...refs.map((ref) => ref.byteSize));
  const encoded = refs.filter((ref) => !isNativeDtype(ref.dtype));
  const scratch = encoded.length === 0 ? undefined : new Float32Array(Math.max(...encoded.map((ref) => ref.length)));
  await readInOrder(
    refs.length,
    concurrency,
    largest,
    async (index, buffer) => {
      const ref = refs[index]!;
      // Hashed as the chunks arrive, while the other reads are in flight (issue #24: bytes that
      // are not the ones checked when they were stored are set aside, never aggregated).
      const hash = createHash('sha256');
      let read: number;
      try {
        read = await store.readInto(ref.key, buffer.subarray(0, ref.byteSize), undefined, (chunk) => hash.update(chunk));
      } catch (error) {
        // A missing object never comes back; a store that is away (DependencyError) may.
        if (error instanceof ObjectNotFoundError) throw new UnreadableWeightsError(`Stored weights ${ref.key} are missing`, index, ref.key);
        throw error;
      }
      if (read !== ref.byteSize) {
        throw new UnreadableWeightsError(`Stored weights ${ref.key} are corrupt: ${read} of ${ref.byteSize} bytes`, index, ref.key);
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== ref.sha256) {
        throw new UnreadableWeightsError(`Stored weights ${ref.key} have SHA-256 ${sha256}, not the ${ref.sha256} they were stored with`, index, ref.key);
      }
    },
    (buffer, index) => {
      const ref = refs[index]!;
      const values = decodeValues(buffer, ref.dtype, ref.length, scratch);
      assertFiniteWeights(values, ref.key, index);
      visit(values, index);
    },
  );
}

/**
 * Reads `count` objects with `read`, at most `concurrency` in flight, each into one of as many
 * reused buffers of `bufferBytes`, and hands each buffer to `visit` in index order. Memory is
 * concurrency × bufferBytes, whatever the count; the order makes sums over them reproducible.
 */
export async function readInOrder(
  count: number,
  concurrency: number,
  bufferBytes: number,
  read: (index: number, buffer: Uint8Array) => Promise<void>,
  visit: (buffer: Uint8Array, index: number) => void,
): Promise<void> {
  const free = Array.from({ length: Math.min(concurrency, count) }, () => allocateWeightsBuffer(bufferBytes));
  const reads: Promise<Uint8Array>[] = [];
  let started = 0;
  const startNext = () => {
    const index = started;
    const buffer = free.pop()!;
    started += 1;
    reads[index] = read(index, buffer).then(() => buffer);
    // Awaited in order below; until then a failure must not count as unhandled.
    reads[index].catch(() => undefined);
  };
  while (free.length > 0 && started < count) startNext();
  for (let index = 0; index < count; index += 1) {
    const buffer = await reads[index]!;
    visit(buffer, index);
    free.push(buffer);
    delete reads[index];
    if (started < count) startNext();
  }
}

/** Removes weights from the store (missing keys are fine). */
export async function deleteWeights(store: ObjectStore, refs: readonly WeightsRef[]): Promise<void> {
  const keys = [...new Set(refs.map((ref) => ref.key))];
  if (keys.length > 0) await store.delete(keys);
}
