/**
 * Clipping and central differential privacy, as DP-FedAvg with fixed clipping (McMahan et al.
 * 2018, "Learning Differentially Private Recurrent Language Models"): each update's delta from the
 * parent, xᵢ − x_t, is scaled to an L2 norm of at most C; the mean of the clipped deltas gets
 * Gaussian noise of standard deviation σ = z·C/n (z the noise multiplier, n the number of updates)
 * on every coordinate; the aggregate is x_t + that mean.
 */

import { ExactSums, SUM_CHUNK_VALUES } from '../exact-sum';

type Values = Float32Array | Float64Array;

/** ‖values − base‖₂ (base null: ‖values‖₂), in float64. */
export function deltaNorm(values: Values, base: Float64Array | null): number {
  let sum = 0;
  if (base === null) {
    for (let j = 0; j < values.length; j += 1) sum += values[j]! * values[j]!;
  } else {
    for (let j = 0; j < values.length; j += 1) {
      const d = values[j]! - base[j]!;
      sum += d * d;
    }
  }
  return Math.sqrt(sum);
}

/**
 * Adds ‖values − base‖₂² to `sums[index]`: the squares of each chunk of SUM_CHUNK_VALUES
 * coordinates summed in float64, the chunks' sums added exactly. `values` must start on a chunk
 * edge (a whole model, or a shard of a two-pass plan), so that a model's norm is the same, bit for
 * bit, whether it is taken whole or shard by shard and merged (issue #14).
 */
export function addDeltaSquares(values: Values, base: Float64Array | null, sums: ExactSums, index: number): void {
  for (let start = 0; start < values.length; start += SUM_CHUNK_VALUES) {
    const end = Math.min(values.length, start + SUM_CHUNK_VALUES);
    let sum = 0;
    if (base === null) {
      for (let j = start; j < end; j += 1) sum += values[j]! * values[j]!;
    } else {
      for (let j = start; j < end; j += 1) {
        const d = values[j]! - base[j]!;
        sum += d * d;
      }
    }
    sums.add(index, sum);
  }
}

/** ‖values − base‖₂ as the aggregation computes it (addDeltaSquares, exact across chunks). */
export function deltaNormExact(values: Values, base: Float64Array | null): number {
  const sums = new ExactSums(1);
  addDeltaSquares(values, base, sums, 0);
  return Math.sqrt(sums.value(0));
}

/** The factor that brings a delta of L2 norm `norm` within `clipNorm`: min(1, C / norm). */
export function clipFactor(norm: number, clipNorm: number): number {
  return norm > clipNorm ? clipNorm / norm : 1;
}

/** sum += factor · (values − base), element-wise (base null: zeros). */
export function accumulateDelta(sum: Float64Array, values: Values, base: Float64Array | null, factor: number): void {
  if (base === null) {
    for (let j = 0; j < sum.length; j += 1) sum[j]! += factor * values[j]!;
  } else {
    for (let j = 0; j < sum.length; j += 1) sum[j]! += factor * (values[j]! - base[j]!);
  }
}

/** σ of the Gaussian noise on the mean of n deltas clipped to C: z·C/n. */
export function noiseStd(noiseMultiplier: number, clipNorm: number, n: number): number {
  return (noiseMultiplier * clipNorm) / n;
}
