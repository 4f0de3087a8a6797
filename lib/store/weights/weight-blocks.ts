import { createHash, randomUUID } from 'node:crypto';
import { AggregationError } from '../../algorithms';
import type { OptimizerState, ServerOptimizerName } from '../../algorithms/strategies';
import {
  allocateWeightsBuffer,
  assertFiniteWeights,
  decodeValues,
  encodedByteSize,
  encodedRange,
  float64Bytes,
  isNativeDtype,
  maxEncodedRangeBytes,
  UnreadableWeightsError,
  valuesView,
  type WeightsRef,
} from '../../weights';
import type { ObjectStore } from '../object-store';
import type { OptimizerStateRef } from '../../entities/aggregate-strategy';

// What the strategies of issue #11 read and write in the object store beyond whole weights:
// blocks of coordinates of many updates at once (ranged reads), and server-optimizer state.

/** How many ranged reads of one block are in flight at a time. */
export const BLOCK_READ_CONCURRENCY = 8;

/**
 * Reads the updates block by block of `blockValues` coordinates, each update's part of a block
 * with one ranged GET into a buffer of its own that every block reuses, and hands the block to
 * `visit` as one column per update (in the order of `refs`). Memory: N × blockValues × 8 bytes,
 * never N × P. Every update must hold the same number of values; dtypes may differ. With `range`,
 * only values [range.start, range.end) are read (a shard's, issue #14); `start` stays absolute.
 * An encoded update (issue #26) is read as the whole int8 blocks (with their scales) that cover
 * the block, and decoded into a float32 column of its own: N × blockValues × (its bytes + 4),
 * within the 8 bytes a value that block sizes are planned for.
 */
export async function streamWeightBlocks(
  store: ObjectStore,
  refs: readonly WeightsRef[],
  blockValues: number,
  visit: (start: number, length: number, columns: (Float32Array | Float64Array)[]) => void,
  range?: { readonly start: number; readonly end: number },
): Promise<void> {
  if (refs.length === 0) return;
  const total = refs[0]!.length;
  const first = range?.start ?? 0;
  const last = range?.end ?? total;
  for (const ref of refs) {
    if (ref.length !== total) throw new AggregationError(`updates hold ${total} and ${ref.length} values`);
    if (ref.byteSize !== encodedByteSize(ref.dtype, ref.length)) {
      throw new AggregationError(`Stored weights ${ref.key} are corrupt: ${ref.byteSize} bytes for ${ref.length} ${ref.dtype} values`);
    }
  }
  if (!Number.isInteger(blockValues) || blockValues < 1) throw new RangeError(`block of ${blockValues} values`);
  if (range !== undefined && (first < 0 || last > total || first >= last)) throw new RangeError(`values ${first}-${last} of ${total}`);
  const block = Math.min(blockValues, last - first);
  const buffers = refs.map((ref) => allocateWeightsBuffer(maxEncodedRangeBytes(ref.dtype, block)));
  const scratches = refs.map((ref) => (isNativeDtype(ref.dtype) ? undefined : new Float32Array(block)));
  // A pass over whole objects also checks each one's SHA-256, block by block in order; a mismatch
  // is known only at the end, and then what was visited must be thrown away (the caller sets the
  // update aside and passes again). A shard's range cannot be checked against a whole-object hash.
  const hashes = range === undefined ? refs.map(() => createHash('sha256')) : null;
  const hashedUpTo = refs.map(() => 0);
  for (let start = first; start < last; start += block) {
    const length = Math.min(block, last - start);
    const ranges = refs.map((ref) => encodedRange(ref.dtype, total, start, start + length));
    let next = 0;
    const worker = async () => {
      while (next < refs.length) {
        const i = next;
        next += 1;
        const ref = refs[i]!;
        const range = ranges[i]!;
        const bytes = range.end - range.start;
        const read = await store.readInto(ref.key, buffers[i]!.subarray(0, bytes), { start: range.start, end: range.end - 1 });
        if (read !== bytes) throw new AggregationError(`Stored weights ${ref.key} are corrupt: ${read} of ${bytes} bytes at value ${start}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BLOCK_READ_CONCURRENCY, refs.length) }, worker));
    // Whole passes hash each object once, in order: an int8 block shared by two blocks of values
    // is hashed up to the end of the first only, and from there on with the second.
    hashes?.forEach((hash, i) => {
      const range = ranges[i]!;
      const from = hashedUpTo[i]! - range.start;
      hash.update(buffers[i]!.subarray(from, range.end - range.start));
      hashedUpTo[i] = range.end;
    });
    const columns = refs.map((ref, i) => decodeValues(buffers[i]!, ref.dtype, length, scratches[i], start - ranges[i]!.firstValue));
    columns.forEach((column, i) => assertFiniteWeights(column, refs[i]!.key, i, start));
    visit(start, length, columns);
  }
  hashes?.forEach((hash, i) => {
    const ref = refs[i]!;
    const sha256 = hash.digest('hex');
    if (sha256 !== ref.sha256) {
      throw new UnreadableWeightsError(`Stored weights ${ref.key} have SHA-256 ${sha256}, not the ${ref.sha256} they were stored with`, i, ref.key);
    }
  });
}

/**
 * Stores optimizer state under a fresh key (`optimizer-state/<model>/<uuid>`): never over the
 * parent's, so a run that fails after this leaves the parent's state as it was.
 */
export async function putOptimizerState(
  store: ObjectStore,
  model: number,
  optimizer: ServerOptimizerName,
  state: OptimizerState,
): Promise<OptimizerStateRef> {
  const parts = state.v === null ? [state.m] : [state.m, state.v];
  const length = state.m.length;
  const joined = new Float64Array(length * parts.length);
  parts.forEach((part, i) => joined.set(part, i * length));
  const { bytes, sha256 } = float64Bytes(joined);
  const key = `optimizer-state/${model}/${randomUUID()}`;
  await store.put(key, bytes, { contentLength: bytes.byteLength, contentType: 'application/octet-stream' });
  return { key, optimizer, components: parts.length === 1 ? ['m'] : ['m', 'v'], length, byteSize: bytes.byteLength, sha256 };
}

/** Reads optimizer state back, checking its size and SHA-256. */
export async function readOptimizerState(store: ObjectStore, ref: OptimizerStateRef): Promise<OptimizerState> {
  if (ref.byteSize !== ref.length * ref.components.length * 8) throw new AggregationError(`optimizer state ${ref.key}: inconsistent size`);
  const bytes = allocateWeightsBuffer(ref.byteSize);
  const read = await store.readInto(ref.key, bytes);
  if (read !== ref.byteSize || createHash('sha256').update(bytes).digest('hex') !== ref.sha256) {
    throw new AggregationError(`optimizer state ${ref.key} is corrupt`);
  }
  const all = valuesView(bytes, 'float64', ref.length * ref.components.length) as Float64Array;
  const part = (name: 'm' | 'v') => {
    const index = ref.components.indexOf(name);
    return index < 0 ? null : all.subarray(index * ref.length, (index + 1) * ref.length);
  };
  return { m: part('m')!, v: part('v') };
}
