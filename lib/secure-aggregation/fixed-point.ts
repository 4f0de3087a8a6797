import type { SecureAggregationOptions } from '../entities/secure-aggregation';

/**
 * The fixed-point encoding of clipped updates (docs/secure-aggregation-protocol.md): value x of a
 * client of weight w becomes w·round(x/c·S) modulo 2^32, and the last word is w, so the sum of the
 * words read as signed 32-bit integers gives Σ w·q and Σ w without wrapping.
 */
export function fixedPointScale(bits: number): number {
  return 2 ** (bits - 1) - 1;
}

/** The largest rounding error of a value of the mean: half a step. */
export function quantisationError(options: Pick<SecureAggregationOptions, 'clip_range' | 'bits'>): number {
  return options.clip_range / (2 * fixedPointScale(options.bits));
}

/** Why `participants` clients could wrap the 32-bit sum, or null when they cannot. */
export function overflowProblem(participants: number, options: Pick<SecureAggregationOptions, 'bits' | 'max_weight'>): string | null {
  const bound = participants * options.max_weight * fixedPointScale(options.bits);
  if (bound < 2 ** 31) return null;
  return `${participants} clients × max_weight ${options.max_weight} × 2^(bits-1)-1 with bits ${options.bits} is ${bound}, past 2^31: the sum could wrap; lower bits or max_weight`;
}

/** The encoding of one client's values (tests and benchmarks; clients do it in the SDKs). */
export function encodeFixedPoint(values: ArrayLike<number>, options: Pick<SecureAggregationOptions, 'clip_range' | 'bits'>, weight = 1): Uint32Array {
  const scale = fixedPointScale(options.bits);
  const c = options.clip_range;
  const words = new Uint32Array(values.length + 1);
  for (let i = 0; i < values.length; i++) {
    const clipped = Math.min(Math.max(values[i]!, -c), c);
    words[i] = (weight * Math.floor((clipped / c) * scale + 0.5)) >>> 0;
  }
  words[values.length] = weight;
  return words;
}

/**
 * The mean from the unmasked sum: each word read as a signed 32-bit integer T_i, W the last,
 * T_i / W · c / S. Throws when W is not positive (no weight: nothing to average).
 */
export function decodeMean(sum: Uint32Array, options: Pick<SecureAggregationOptions, 'clip_range' | 'bits'>): Float64Array {
  const signed = new Int32Array(sum.buffer, sum.byteOffset, sum.length);
  const weight = signed[sum.length - 1]!;
  if (!(weight > 0)) throw new RangeError(`the sum of the weights is ${weight}, not positive`);
  const factor = options.clip_range / fixedPointScale(options.bits) / weight;
  const mean = new Float64Array(sum.length - 1);
  for (let i = 0; i < mean.length; i++) mean[i] = signed[i]! * factor;
  return mean;
}
