/**
 * Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
 * Tolerant Gradient Descent"). Of n updates of which f may be Byzantine, each update is scored by
 * the sum of its squared distances to its n − f − 2 nearest neighbours; Krum keeps the update of
 * the lowest score, Multi-Krum the m lowest and averages them. Needs n ≥ 2f + 3.
 *
 * The n × n squared distances are accumulated block by block of coordinates (one streamed pass
 * over the model): O(n² P) time, O(n² + n × block) memory.
 */

type Values = Float32Array | Float64Array;

/**
 * distances[i·n + j] += Σ_k (columns[i][k] − columns[j][k])², for i < j and k < length (the upper
 * triangle; `krumScores` reads it symmetrically). Differences and sums are float64.
 */
export function accumulateSquaredDistances(columns: readonly Values[], length: number, distances: Float64Array): void {
  const n = columns.length;
  for (let i = 0; i < n; i += 1) {
    const a = columns[i]!;
    for (let j = i + 1; j < n; j += 1) {
      const b = columns[j]!;
      let sum = 0;
      for (let k = 0; k < length; k += 1) {
        const d = a[k]! - b[k]!;
        sum += d * d;
      }
      distances[i * n + j]! += sum;
    }
  }
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
  const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]! || a - b);
  return order.slice(0, m).sort((a, b) => a - b);
}
