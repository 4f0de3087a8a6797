import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  decodeValues,
  encodedByteSize,
  encodedRange,
  encodeValues,
  INT8_BLOCK_VALUES,
  isNativeDtype,
  maxEncodedRangeBytes,
  allocateWeightsBuffer,
  WeightsRefSchema,
  type WeightsDtype,
  type WeightsRef,
} from '../../weights';
import type { ObjectStore } from '../object-store';

// Issue #26: compressed downloads of aggregates (`?dtype=float16` on the weights routes). The
// stored aggregate stays float64 (or float32); a copy in the asked dtype is made on first request,
// streamed in steps of STEP_VALUES, and kept beside it: `<key>.<dtype>` with its reference in
// `<key>.<dtype>.json`, written after the bytes, so a reference found always names whole bytes.
// No document refers to the copy: the daily sweep removes it with the other unreferenced objects
// under `aggregates/` (and it is made again when asked for).

/** Values encoded per step: bounded memory (8 MiB read, 4 MiB decoded), a whole number of int8 blocks. */
const STEP_VALUES = 16 * 1024 * INT8_BLOCK_VALUES;

/** The reference of `ref`'s values in `dtype`: `ref` itself when it is stored so, else its encoded copy (made if missing). */
export async function encodedCopy(store: ObjectStore, ref: WeightsRef, dtype: WeightsDtype): Promise<WeightsRef> {
  if (dtype === ref.dtype) return ref;
  const key = `${ref.key}.${dtype}`;
  const found = await readCopyRef(store, key);
  if (found !== null) return found;
  const hash = createHash('sha256');
  const byteSize = encodedByteSize(dtype, ref.length);
  const source = allocateWeightsBuffer(maxEncodedRangeBytes(ref.dtype, STEP_VALUES));
  const scratch = isNativeDtype(ref.dtype) ? undefined : new Float32Array(STEP_VALUES);
  async function* steps(): AsyncGenerator<Uint8Array> {
    for (let start = 0; start < ref.length; start += STEP_VALUES) {
      const end = Math.min(ref.length, start + STEP_VALUES);
      const range = encodedRange(ref.dtype, ref.length, start, end);
      await store.readInto(ref.key, source.subarray(0, range.end - range.start), { start: range.start, end: range.end - 1 });
      const bytes = encodeValues(decodeValues(source, ref.dtype, end - start, scratch, start - range.firstValue), dtype);
      hash.update(bytes);
      yield bytes;
    }
  }
  await store.put(key, Readable.from(steps()), { contentLength: byteSize, contentType: 'application/octet-stream' });
  const copy: WeightsRef = { key, dtype, layout: ref.layout, shapes: ref.shapes, length: ref.length, byteSize, sha256: hash.digest('hex') };
  await store.put(`${key}.json`, new TextEncoder().encode(JSON.stringify(copy)), { contentType: 'application/json' });
  return copy;
}

/** The copy's reference, when both it and whole bytes of the size it names are there. */
async function readCopyRef(store: ObjectStore, key: string): Promise<WeightsRef | null> {
  const info = await store.head(`${key}.json`);
  if (info === null) return null;
  const text = new Uint8Array(info.size);
  await store.readInto(`${key}.json`, text);
  const parsed = WeightsRefSchema.safeParse(JSON.parse(new TextDecoder().decode(text)));
  if (!parsed.success || parsed.data.key !== key) return null;
  const bytes = await store.head(key);
  return bytes?.size === parsed.data.byteSize ? parsed.data : null;
}
