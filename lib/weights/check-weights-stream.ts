import { createHash } from 'node:crypto';
import { decodeValues, encodedByteSize, INT8_BLOCK_BYTES, INT8_BLOCK_VALUES, isNativeDtype, type WeightsDtype } from './encodings';
import { WEIGHTS_LIMITS } from './weights';

/** What a pass over stored bytes found. */
export interface WeightsStreamCheck {
  readonly byteSize: number;
  readonly sha256: string;
  /** Index of the first NaN or ±Infinity (as decoded), or null when every value is finite. */
  readonly firstNonFinite: number | null;
  /** Index of the first finite value beyond `WEIGHTS_LIMITS.maxMagnitude`, or null when there is none. */
  readonly firstTooLarge: number | null;
  /** int8: the first block whose scale is NaN, infinite or negative, or null when every scale is usable. */
  readonly firstBadScale: { readonly block: number; readonly scale: number } | null;
}

/** Bytes checked per step: chunks are gathered into an aligned buffer of this size (a whole number of int8 blocks). */
const CHECK_BLOCK_BYTES = Math.floor((1 << 20) / INT8_BLOCK_BYTES) * INT8_BLOCK_BYTES;

/**
 * Reads a stream of encoded values once, hashing it and decoding it step by step to look for
 * non-finite values (and, for int8, scales that are not finite and non-negative), with memory
 * bounded by one step (about 1 MiB, and as many float32 values for the encoded dtypes) however
 * large the stream: the bytes of an upload are checked without ever being held whole. Values
 * beyond `WEIGHTS_LIMITS.maxMagnitude` are reported too (float64 only: no other dtype can
 * exceed it; a decoded int8 value that overflows float32 is infinite, so not finite).
 */
export async function checkWeightsStream(stream: AsyncIterable<Uint8Array>, dtype: WeightsDtype): Promise<WeightsStreamCheck> {
  const hash = createHash('sha256');
  // A step takes whole units: one value, or one int8 block (its scale and 64 values).
  const unitBytes = dtype === 'int8' ? INT8_BLOCK_BYTES : encodedByteSize(dtype, 1);
  const unitValues = dtype === 'int8' ? INT8_BLOCK_VALUES : 1;
  const block = new Uint8Array(new ArrayBuffer(CHECK_BLOCK_BYTES));
  const scratch = isNativeDtype(dtype) ? undefined : new Float32Array((CHECK_BLOCK_BYTES / unitBytes) * unitValues);
  let filled = 0;
  let byteSize = 0;
  let checkedValues = 0;
  let firstNonFinite: number | null = null;
  let firstTooLarge: number | null = null;
  let firstBadScale: { block: number; scale: number } | null = null;
  const bound = WEIGHTS_LIMITS.maxMagnitude;

  /** Checks the whole units in block[0, bytes) (at the end, a last partial int8 block too). */
  const checkValues = (bytes: number, last: boolean) => {
    let units = Math.floor(bytes / unitBytes);
    let count = units * unitValues;
    let used = units * unitBytes;
    if (last && dtype === 'int8' && bytes - used > 4) {
      count += bytes - used - 4;
      units += 1;
      used = bytes;
    }
    if (dtype === 'int8' && firstBadScale === null) {
      const view = new DataView(block.buffer, 0, used);
      for (let u = 0; u < units; u += 1) {
        const scale = view.getFloat32(u * INT8_BLOCK_BYTES, true);
        if (!(scale >= 0 && scale <= 3.4028234663852886e38)) {
          firstBadScale = { block: checkedValues / INT8_BLOCK_VALUES + u, scale };
          break;
        }
      }
    }
    if (firstNonFinite === null && count > 0) {
      const values = decodeValues(block, dtype, count, scratch);
      for (let i = 0; i < count; i += 1) {
        const value = values[i]!;
        if (value - value !== 0) {
          firstNonFinite = checkedValues + i;
          break;
        }
        if (firstTooLarge === null && (value > bound || value < -bound)) firstTooLarge = checkedValues + i;
      }
    }
    checkedValues += count;
    // Keep the bytes of a unit split across steps for the next step.
    block.copyWithin(0, used, bytes);
    return bytes - used;
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
      if (filled === CHECK_BLOCK_BYTES) filled = checkValues(filled, false);
    }
  }
  checkValues(filled, true);
  return { byteSize, sha256: hash.digest('hex'), firstNonFinite, firstTooLarge, firstBadScale };
}

/** Why an int8 upload's scale is refused, naming the block and the values it scales. */
export function scaleProblem({ block, scale }: { readonly block: number; readonly scale: number }): string {
  const first = block * INT8_BLOCK_VALUES;
  return `the scale of int8 block ${block} (values ${first}-${first + INT8_BLOCK_VALUES - 1}) is ${scale}; scales must be finite and non-negative`;
}
