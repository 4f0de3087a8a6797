/**
 * Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
 * Tolerant Gradient Descent"). Of n updates of which f may be Byzantine, each update is scored by
 * the sum of its squared distances to its n − f − 2 nearest neighbours; Krum keeps the update of
 * the lowest score, Multi-Krum the m lowest and averages them. Needs n ≥ 2f + 3.
 *
 * The n × n squared distances are accumulated block by block of coordinates (one streamed pass
 * over the model): O(n² P) time, O(n² + n × block) memory.
 */

import { ExactSums, SUM_CHUNK_VALUES } from '../exact-sum';

type Values = Float32Array | Float64Array;

/**
 * Coordinates per tile of the distance loop: n tiles of 512 float64 values (400 KB at n = 100)
 * stay in the CPU's cache while all n²/2 pairs pass over them, so the block is read from memory
 * about once rather than once per pair (at n = 100 and P = 1M, 80 GB of memory traffic).
 */
export const DISTANCE_TILE_VALUES = SUM_CHUNK_VALUES;

/**
 * distances[i·n + j] += Σ_k (columns[i][k] − columns[j][k])², for i < j and k < length (the upper
 * triangle; `krumScores` reads it symmetrically). Differences and sums are float64. With
 * ExactSums, each tile's sum is added exactly: when every block starts on a tile edge (blocks
 * and shards of multiples of DISTANCE_TILE_VALUES), the distances are the same, bit for bit,
 * however the coordinates were split (issue #14).
 */
export function accumulateSquaredDistances(columns: readonly Values[], length: number, distances: Float64Array | ExactSums): void {
  const n = columns.length;
  for (let start = 0; start < length; start += DISTANCE_TILE_VALUES) {
    const end = Math.min(length, start + DISTANCE_TILE_VALUES);
    for (let i = 0; i < n; i += 1) {
      const a = columns[i]!;
      for (let j = i + 1; j < n; j += 1) {
        const b = columns[j]!;
        // Four independent sums: one chain of dependent additions waits out the adder's latency
        // on every element; four keep it busier (with the tiles, 20 to 30% faster on this loaded
        // 2-core machine at n = 100).
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let k = start;
        for (; k + 3 < end; k += 4) {
          const d0 = a[k]! - b[k]!;
          const d1 = a[k + 1]! - b[k + 1]!;
          const d2 = a[k + 2]! - b[k + 2]!;
          const d3 = a[k + 3]! - b[k + 3]!;
          s0 += d0 * d0;
          s1 += d1 * d1;
          s2 += d2 * d2;
          s3 += d3 * d3;
        }
        for (; k < end; k += 1) {
          const d = a[k]! - b[k]!;
          s0 += d * d;
        }
        if (distances instanceof ExactSums) distances.add(i * n + j, s0 + s1 + (s2 + s3));
        else distances[i * n + j]! += s0 + s1 + (s2 + s3);
      }
    }
  }
}

/** The pairwise squared distances of exact sums, as `krumScores` reads them. */
export function exactDistances(sums: ExactSums, n: number): Float64Array {
  const distances = new Float64Array(n * n);
  for (let i = 0; i < n; i += 1) for (let j = i + 1; j < n; j += 1) distances[i * n + j] = sums.value(i * n + j);
  return distances;
}

/** Each update's Krum score: the sum of its n − f − 2 smallest squared distances to the others. */
export function krumScores(distances: Float64Array, n: number, f: number): Float64Array {
  const neighbours = n - f - 2;
  if (n < 2 * f + 3) throw new RangeError(`Krum needs n ≥ 2f + 3 (n=${n}, f=${f})`);
  const scores = new Float64Array(n);
  const row = new Float64Array(n - 1);
  for (let i = 0; i < n; i += 1) {
    let r = 0;
    for (let j = 0; j < n; j += 1) {
      if (j !== i) row[r++] = i < j ? distances[i * n + j]! : distances[j * n + i]!;
    }
    row.sort();
    let score = 0;
    for (let k = 0; k < neighbours; k += 1) score += row[k]!;
    scores[i] = score;
  }
  return scores;
}

/** The indices of the m lowest scores (ties: the lower index), in ascending index order. */
export function selectLowest(scores: Float64Array, m: number): number[] {
  // Compared, not subtracted: two infinite scores (outliers near the 1e150 bound) must tie, not give NaN.
  const order = Array.from(scores.keys()).sort((a, b) => (scores[a]! < scores[b]! ? -1 : scores[a]! > scores[b]! ? 1 : a - b));
  return order.slice(0, m).sort((a, b) => a - b);
}
