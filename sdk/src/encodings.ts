
// The compact encodings of updates and downloads (issue #26), as the service defines them in
// lib/weights/encodings.ts (this package imports none of the service's code, so they are here
// again; test/unit/sdk-encodings.test.ts holds both to the same NumPy references).
//
// Byte layouts (all little-endian):
// - float16: IEEE 754 binary16, 2 bytes a value.
// - bfloat16: the upper 16 bits of an IEEE 754 binary32, 2 bytes a value.
// - int8: symmetric blockwise quantisation over the flat vector of values (layers concatenated
//   in order, blocks do not restart at a layer's edge), in blocks of INT8_BLOCK_VALUES = 64
//   values. Each block is a little-endian float32 scale s followed by its 64 signed bytes q
//   (the last block holds the remaining 1-64 values), so a block is 68 bytes and P values take
//   P + 4 × ceil(P / 64) bytes. The value is float32(q × s): q × s is exact in float64 and
//   rounded once to float32. Scales must be finite and non-negative.
//   Scales are interleaved, block by block, rather than all first: a stream is decoded as it
//   arrives with one block's state, and any range of coordinates (a block of the median, a
//   shard's range) is one contiguous byte range and one ranged GET. 68 is a multiple of 4, so
//   every scale is aligned.

/** Values per int8 block (one float32 scale each). */
export const INT8_BLOCK_VALUES = 64;
/** Bytes per whole int8 block: the float32 scale, then the 64 values. */
export const INT8_BLOCK_BYTES = INT8_BLOCK_VALUES + 4;

/** Number types weights are stored in (float32/float64 as they are; the others encoded, issue #26). */
export const WEIGHTS_DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'int8'] as const;
export type WeightsDtype = (typeof WEIGHTS_DTYPES)[number];
/** The dtypes whose bytes are the values themselves (a typed-array view, no decoding). */
export type NativeDtype = 'float32' | 'float64';

export function isNativeDtype(dtype: WeightsDtype): dtype is NativeDtype {
  return dtype === 'float32' || dtype === 'float64';
}

/** Number of int8 blocks (and scales) of `length` values. */
export function int8BlockCount(length: number): number {
  return Math.ceil(length / INT8_BLOCK_VALUES);
}

/** Bytes that `length` values take in `dtype`, scales included. */
export function encodedByteSize(dtype: WeightsDtype, length: number): number {
  switch (dtype) {
    case 'float64':
      return length * 8;
    case 'float32':
      return length * 4;
    case 'float16':
    case 'bfloat16':
      return length * 2;
    case 'int8':
      return length + 4 * int8BlockCount(length);
    default:
      return unknownDtype(dtype);
  }
}

/** How the declared size is made up, for messages: `1000 int8 values (16 blocks of 64: 1000 bytes and 16 float32 scales)`. */
export function describeEncodedSize(dtype: WeightsDtype, length: number): string {
  if (dtype !== 'int8') return `${length} ${dtype} values`;
  const blocks = int8BlockCount(length);
  return `${length} int8 values (${blocks} blocks of up to ${INT8_BLOCK_VALUES}: ${length} bytes and ${blocks} float32 scales)`;
}

/** The bytes [start, end) that hold values [first, last) of a `total`-value object, and the value they begin at. */
export interface EncodedRange {
  readonly start: number;
  readonly end: number;
  /** The value at byte `start` (≤ first: int8 ranges begin at their block's scale). */
  readonly firstValue: number;
}

/** The byte range to read for values [first, last) of `total` (whole int8 blocks, their scales included). */
export function encodedRange(dtype: WeightsDtype, total: number, first: number, last: number): EncodedRange {
  if (dtype !== 'int8') {
    const width = encodedByteSize(dtype, 1);
    return { start: first * width, end: last * width, firstValue: first };
  }
  const firstBlock = Math.floor(first / INT8_BLOCK_VALUES);
  const endBlock = Math.ceil(last / INT8_BLOCK_VALUES);
  const end = endBlock >= int8BlockCount(total) ? encodedByteSize('int8', total) : endBlock * INT8_BLOCK_BYTES;
  return { start: firstBlock * INT8_BLOCK_BYTES, end, firstValue: firstBlock * INT8_BLOCK_VALUES };
}

/** The most bytes a range of `count` values can take (int8: up to two partial blocks at its ends). */
export function maxEncodedRangeBytes(dtype: WeightsDtype, count: number): number {
  if (dtype !== 'int8') return encodedByteSize(dtype, count);
  return encodedByteSize('int8', count + 2 * (INT8_BLOCK_VALUES - 1)) + 4;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let float16Table: Float32Array | null = null;

/** Every binary16 bit pattern's value (256 KiB, built once): decoding is one lookup a value. */
function float16Values(): Float32Array {
  if (float16Table !== null) return float16Table;
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits += 1) table[bits] = float16BitsToNumber(bits);
  float16Table = table;
  return table;
}

/** The value of a binary16 bit pattern. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/**
 * Values [skip, skip + count) of encoded bytes that begin at a value boundary (int8: at a block's
 * scale): a view of `bytes` for float32 and float64, else decoded into `scratch` (float32,
 * at least `count` long) and a view of it. `bytes` must start at an offset aligned to 4.
 */
export function decodeValues(bytes: Uint8Array, dtype: WeightsDtype, count: number, scratch?: Float32Array, skip = 0): Float32Array | Float64Array {
  const needed = dtype === 'int8' ? encodedByteSize('int8', skip + count) : encodedByteSize(dtype, skip + count);
  if (bytes.byteLength < needed) throw new Error(`${bytes.byteLength} bytes cannot hold ${count} ${dtype} values`);
  if (dtype === 'float32' || dtype === 'float64') {
    const width = dtype === 'float32' ? 4 : 8;
    if (HOST_IS_LITTLE_ENDIAN) {
      return dtype === 'float32'
        ? new Float32Array(bytes.buffer, bytes.byteOffset + skip * width, count)
        : new Float64Array(bytes.buffer, bytes.byteOffset + skip * width, count);
    }
    // Big-endian hosts read each value through a DataView.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return dtype === 'float32'
      ? Float32Array.from({ length: count }, (_, i) => view.getFloat32((skip + i) * 4, true))
      : Float64Array.from({ length: count }, (_, i) => view.getFloat64((skip + i) * 8, true));
  }
  if (scratch === undefined || scratch.length < count) throw new RangeError(`decoding ${count} ${dtype} values needs a float32 scratch array of that length`);
  const out = scratch.subarray(0, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float16': {
      const table = float16Values();
      if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset + skip * 2, count);
        for (let i = 0; i < count; i += 1) out[i] = table[halves[i]!]!;
      } else {
        for (let i = 0; i < count; i += 1) out[i] = table[view.getUint16((skip + i) * 2, true)]!;
      }
      return out;
    }
    case 'bfloat16': {
      // The bits are a float32's upper half: shift them into place, no arithmetic at all.
      const words = new Uint32Array(out.buffer, out.byteOffset, count);
      if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset + skip * 2, count);
        for (let i = 0; i < count; i += 1) words[i] = halves[i]! << 16;
      } else {
        for (let i = 0; i < count; i += 1) out[i] = fromFloat32Bits(view.getUint16((skip + i) * 2, true) << 16);
      }
      return out;
    }
    case 'int8': {
      const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let i = 0;
      let value = skip;
      while (i < count) {
        const block = Math.floor(value / INT8_BLOCK_VALUES);
        const base = block * INT8_BLOCK_BYTES;
        const scale = view.getFloat32(base, true);
        const within = value - block * INT8_BLOCK_VALUES;
        const take = Math.min(INT8_BLOCK_VALUES - within, count - i);
        const from = base + 4 + within;
        // A Float32Array store rounds the exact float64 product once: float32(q × s).
        for (let k = 0; k < take; k += 1) out[i + k] = q[from + k]! * scale;
        i += take;
        value += take;
      }
      return out;
    }
    default:
      return unknownDtype(dtype);
  }
}

const bitsScratch = new DataView(new ArrayBuffer(4));
function fromFloat32Bits(bits: number): number {
  bitsScratch.setUint32(0, bits >>> 0);
  return bitsScratch.getFloat32(0);
}

/** Round half to even (IEEE's default), for float64 input. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The binary16 bits nearest to `value` (round to nearest, ties to even, straight from float64). */
export function numberToFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal (or zero): a multiple of 2^-24; rounding up to 1024 × 2^-24 gives the smallest normal's bits.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent -= 1;
  else if (2 ** (exponent + 1) <= a) exponent += 1;
  let mantissa = roundHalfEven(a * 2 ** (10 - exponent)); // in [1024, 2048]
  if (mantissa === 2048) {
    mantissa = 1024;
    exponent += 1;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | (mantissa - 1024);
}

/**
 * The bfloat16 bits of `value`: rounded to float32 first, then to bfloat16 by round to nearest,
 * ties to even, on the float32's bits (the usual reference, e.g. PyTorch's).
 */
export function numberToBfloat16Bits(value: number): number {
  bitsScratch.setFloat32(0, value);
  const bits = bitsScratch.getUint32(0);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface EncodeOptions {
  /** int8 only: round stochastically (q = floor(x / s + u), u uniform in [0, 1)) instead of to nearest. */
  readonly stochastic?: boolean;
  /** The source of u for stochastic rounding (default Math.random): a seeded one makes it reproducible. */
  readonly random?: () => number;
}

/**
 * Encodes values (float64 or float32) as `dtype`'s little-endian bytes: float16 rounds to
 * nearest from the value itself, bfloat16 as `numberToBfloat16Bits`, int8 by the symmetric
 * blockwise quantiser (s = float32(max|x| / 127); q = round-half-even(x / s), clamped to ±127;
 * an all-zero block has s = 0 and q = 0). Values must be finite (a RangeError otherwise).
 */
export function encodeValues(values: Float32Array | Float64Array, dtype: WeightsDtype, options: EncodeOptions = {}): Uint8Array<ArrayBuffer> {
  const length = values.length;
  const bytes = new Uint8Array(new ArrayBuffer(encodedByteSize(dtype, length)));
  const random = options.stochastic === true ? (options.random ?? Math.random) : null;
  for (let i = 0; i < length; i += 1) {
    if (!Number.isFinite(values[i]!)) throw new RangeError(`value ${i} is ${values[i]}: weights must be finite`);
  }
  const view = new DataView(bytes.buffer);
  switch (dtype) {
    case 'float64':
      values.forEach((value, i) => view.setFloat64(i * 8, value, true));
      return bytes;
    case 'float32':
      values.forEach((value, i) => view.setFloat32(i * 4, value, true));
      return bytes;
    case 'float16':
      values.forEach((value, i) => view.setUint16(i * 2, numberToFloat16Bits(value), true));
      return bytes;
    case 'bfloat16':
      values.forEach((value, i) => view.setUint16(i * 2, numberToBfloat16Bits(value), true));
      return bytes;
    case 'int8': {
      for (let start = 0; start < length; start += INT8_BLOCK_VALUES) {
        const end = Math.min(length, start + INT8_BLOCK_VALUES);
        let max = 0;
        for (let i = start; i < end; i += 1) max = Math.max(max, Math.abs(values[i]!));
        const scale = Math.fround(max / 127);
        const base = (start / INT8_BLOCK_VALUES) * INT8_BLOCK_BYTES;
        view.setFloat32(base, scale, true);
        for (let i = start; i < end; i += 1) {
          const scaled = scale === 0 ? 0 : values[i]! / scale;
          // Stochastic rounding (client side only; the wire format is the same): up with probability
          // equal to the fraction, so the quantised value is unbiased.
          const rounded = random === null ? roundHalfEven(scaled) : Math.floor(scaled + random());
          const q = Math.max(-127, Math.min(127, rounded));
          view.setInt8(base + 4 + (i - start), q);
        }
      }
      return bytes;
    }
    default:
      return unknownDtype(dtype);
  }
}

function unknownDtype(dtype: never): never {
  throw new Error(`Unknown dtype ${String(dtype)}`);
}

/**
 * Error feedback for the lossy encodings (Seide et al. 2014; Karimireddy et al. 2019, "Error
 * feedback fixes SignSGD"): keeps what the last encoding lost (the residual e = x + e − decode(encode(x + e)))
 * and adds it to the next update before encoding it, so the error does not accumulate over
 * rounds: over T rounds the sum of what was sent differs from the sum of the true updates by
 * one residual only. Use one instance per client and model, for updates that are deltas or
 * whose errors should cancel across rounds (int8, and bfloat16 for small steps); a client that
 * sends fresh full weights each round gains little from it, and one that skips rounds should
 * call `reset()`.
 *
 * ```ts
 * const feedback = new ErrorFeedback('int8');
 * await client.sendUpdateBinary(delta, { errorFeedback: feedback });   // encodes delta + residual as int8
 * ```
 */
export class ErrorFeedback {
  private residual: Float64Array | null = null;
  constructor(
    readonly dtype: 'float16' | 'bfloat16' | 'int8',
    readonly encodeOptions: EncodeOptions = {},
  ) {}

  /** Encodes x + residual as `dtype` and keeps the new residual; returns the bytes to send. */
  encode(values: Float32Array | Float64Array): Uint8Array<ArrayBuffer> {
    const compensated = Float64Array.from(values, (value, i) => value + (this.residual?.[i] ?? 0));
    if (this.residual !== null && this.residual.length !== values.length) throw new RangeError(`the residual holds ${this.residual.length} values, the update ${values.length}`);
    const bytes = encodeValues(compensated, this.dtype, this.encodeOptions);
    const decoded = decodeValues(bytes, this.dtype, values.length, new Float32Array(values.length));
    this.residual = compensated.map((value, i) => value - decoded[i]!);
    return bytes;
  }

  /** What the last encoding lost (a copy), or null before the first. */
  get lastResidual(): Float64Array | null {
    return this.residual === null ? null : Float64Array.from(this.residual);
  }

  /** Forgets the residual (a new model, or a round this client skipped). */
  reset(): void {
    this.residual = null;
  }
}
