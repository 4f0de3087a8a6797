/**
 * Coordinate-wise robust aggregators (Yin et al. 2018, "Byzantine-Robust Distributed Learning:
 * Towards Optimal Statistical Rates"): at every coordinate, the median of the N updates' values,
 * or their mean after dropping the ⌊βN⌋ smallest and ⌊βN⌋ largest.
 *
 * Both need every update's value at a coordinate at once, so they work on a block of coordinates
 * at a time: `columns[i]` holds update i's values of the block (float32 or float64; sorted and
 * summed in float64). The caller reads the blocks with ranged reads, so memory is N × block.
 */

type Values = Float32Array | Float64Array;

/** How many values the trimmed mean drops at each end: ⌊βN⌋ (as scipy's trim_mean and Flower's FedTrimmedAvg). */
export function trimCount(n: number, beta: number): number {
  return Math.floor(beta * n);
}

function gather(columns: readonly Values[], j: number, scratch: Float64Array): Float64Array {
  const n = columns.length;
  for (let i = 0; i < n; i += 1) scratch[i] = columns[i]![j]!;
  return scratch;
}

/**
 * Rearranges a[lo..hi] so that a[k] holds its k-th smallest value (0-based within a), values
 * before k are ≤ it and values after are ≥ it: quickselect with a median-of-three pivot, O(N) on
 * average. Coordinate-wise aggregation does this a million times per million values, where a full
 * sort took about twice as long. Updates are the clients' to choose, so a run of bad pivots must
 * not make it quadratic: after 2·log₂N + 4 rounds it sorts what is left instead (O(N log N)).
 */
export function selectInPlace(a: Float64Array, lo: number, hi: number, k: number): void {
  let rounds = 2 * Math.ceil(Math.log2(hi - lo + 2)) + 4;
  while (hi > lo) {
    if (rounds-- === 0) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i += 1;
      while (a[j]! > pivot) j -= 1;
      if (i <= j) {
        const swap = a[i]!;
        a[i] = a[j]!;
        a[j] = swap;
        i += 1;
        j -= 1;
      }
    }
    // Now a[lo..j] ≤ pivot ≤ a[i..hi], and anything between equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/**
 * out[offset + j] = the median of columns[·][j], for j < length; with an even N, the mean of the
 * two middle values (as numpy's median). `scratch` holds N values and is reused.
 *
 * @example medians of [1, 5], [2, 9], [10, 0]: coordinate 0 → 2, coordinate 1 → 5
 */
export function coordinateMedianBlock(columns: readonly Values[], length: number, out: Float64Array, offset: number, scratch = new Float64Array(columns.length)): void {
  const n = columns.length;
  const half = n >> 1;
  for (let j = 0; j < length; j += 1) {
    const values = gather(columns, j, scratch);
    selectInPlace(values, 0, n - 1, half);
    if (n % 2 === 1) {
      out[offset + j] = values[half]!;
    } else {
      // The lower middle value is the largest of those the selection put before `half`.
      let lower = values[0]!;
      for (let i = 1; i < half; i += 1) if (values[i]! > lower) lower = values[i]!;
      out[offset + j] = (lower + values[half]!) / 2;
    }
  }
}

/**
 * out[offset + j] = the mean of columns[·][j] without its `trim` smallest and `trim` largest
 * values (two selections set them aside; the rest is summed, then divided once). Needs 2·trim < N.
 */
export function trimmedMeanBlock(
  columns: readonly Values[],
  length: number,
  trim: number,
  out: Float64Array,
  offset: number,
  scratch = new Float64Array(columns.length),
): void {
  const n = columns.length;
  const kept = n - 2 * trim;
  if (kept <= 0) throw new RangeError(`cannot trim ${trim} of ${n} values at each end`);
  for (let j = 0; j < length; j += 1) {
    const values = gather(columns, j, scratch);
    if (trim > 0) {
      selectInPlace(values, 0, n - 1, trim);
      selectInPlace(values, trim, n - 1, n - trim - 1);
    }
    let sum = 0;
    for (let i = trim; i < n - trim; i += 1) sum += values[i]!;
    out[offset + j] = sum / kept;
  }
}
