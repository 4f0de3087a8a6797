import { createHash } from 'node:crypto';
import { BYTES_PER_VALUE, valuesView, type WeightsDtype } from './stored-weights';
import { WEIGHTS_LIMITS } from './weights';

/** What a pass over stored bytes found. */
export interface WeightsStreamCheck {
  readonly byteSize: number;
  readonly sha256: string;
  /** Index of the first NaN or ±Infinity, or null when every value is finite. */
  readonly firstNonFinite: number | null;
  /** Index of the first finite value beyond `WEIGHTS_LIMITS.maxMagnitude`, or null when there is none. */
  readonly firstTooLarge: number | null;
}

/** Bytes checked per step: chunks are gathered into an aligned buffer of this size. */
const CHECK_BLOCK_BYTES = 1 << 20;

/**
 * Reads a stream of little-endian values once, hashing it and looking for non-finite values,
 * with memory bounded by one block (1 MiB) however large the stream: the bytes of an upload are
 * checked without ever being held whole. Values beyond
 * `WEIGHTS_LIMITS.maxMagnitude` are reported too (float64 only: float32 cannot exceed it).
 */
export async function checkWeightsStream(stream: AsyncIterable<Uint8Array>, dtype: WeightsDtype): Promise<WeightsStreamCheck> {
  const hash = createHash('sha256');
  const width = BYTES_PER_VALUE[dtype];
  const block = new Uint8Array(new ArrayBuffer(CHECK_BLOCK_BYTES));
  let filled = 0;
  let byteSize = 0;
  let checkedValues = 0;
  let firstNonFinite: number | null = null;
  let firstTooLarge: number | null = null;
  const bound = WEIGHTS_LIMITS.maxMagnitude;

  const checkValues = (bytes: number) => {
    const count = Math.floor(bytes / width);
    if (firstNonFinite === null) {
      const values = valuesView(block, dtype, count);
      for (let i = 0; i < count; i += 1) {
        const value = values[i]!;
        if (!Number.isFinite(value)) {
          firstNonFinite = checkedValues + i;
          break;
        }
        if (firstTooLarge === null && (value > bound || value < -bound)) firstTooLarge = checkedValues + i;
      }
    }
    checkedValues += count;
    // Keep the bytes of a value split across blocks for the next step.
    const rest = bytes - count * width;
    block.copyWithin(0, count * width, bytes);
    return rest;
  };

  for await (const chunk of stream) {
    hash.update(chunk);
    byteSize += chunk.byteLength;
    let offset = 0;
    while (offset < chunk.byteLength) {
      const take = Math.min(chunk.byteLength - offset, CHECK_BLOCK_BYTES - filled);
      block.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === CHECK_BLOCK_BYTES) filled = checkValues(filled);
    }
  }
  checkValues(filled);
  return { byteSize, sha256: hash.digest('hex'), firstNonFinite, firstTooLarge };
}
