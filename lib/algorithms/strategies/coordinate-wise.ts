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
  return scratch.sort();
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
    const sorted = gather(columns, j, scratch);
    out[offset + j] = n % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
  }
}

/**
 * out[offset + j] = the mean of columns[·][j] without its `trim` smallest and `trim` largest
 * values (summed in ascending order, then divided once). Needs 2·trim < N.
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
    const sorted = gather(columns, j, scratch);
    let sum = 0;
    for (let i = trim; i < n - trim; i += 1) sum += sorted[i]!;
    out[offset + j] = sum / kept;
  }
}
