/**
 * Exact sums of non-negative doubles, so that a sum split across shards and added back together
 * is the same, bit for bit, as the sum taken in one pass (issue #14): floating-point addition is
 * not associative, exact addition is.
 *
 * Each added value is cut at fixed binary boundaries, every 32 bits of exponent, into at most
 * three pieces, and each window keeps the count of its units as a double holding an integer. A
 * piece is below 2^32 units, so a window stays exact for 2^21 additions; `normalize` carries the
 * overflow into the next window before that, which leaves every count in [0, 2^32): one
 * representation per value, so `value` rounds the same exact sum to the same double however it
 * was reached. Windows cover 2^-1056 to 2^1024; the part of a value below 2^-1056 is dropped (the
 * same for a value wherever it is added, so order still does not matter).
 *
 * Clipping sums each update's squared delta in chunks of SUM_CHUNK_VALUES coordinates and adds
 * the chunks' sums exactly; Krum does the same for each pair's squared distance. A shard whose
 * edges are multiples of the chunk computes the same chunk sums, and its exact partial sums add
 * up to the single task's.
 *
 * @example
 * const whole = new ExactSums(1);
 * [0.1, 0.2, 0.3].forEach((x) => whole.add(0, x));
 * const left = new ExactSums(1); left.add(0, 0.3);
 * const right = new ExactSums(1); right.add(0, 0.1); right.add(0, 0.2);
 * left.merge(right);
 * left.value(0) === whole.value(0) // true; (0.3 + (0.1 + 0.2)) !== ((0.1 + 0.2) + 0.3) in floating point
 */

/** Coordinates per chunk whose squares are summed in floating point before they are added exactly. */
export const SUM_CHUNK_VALUES = 512;

const WINDOW_BITS = 32;
const LOWEST_WINDOW = -33; // 2^(32 × -33) = 2^-1056
export const EXACT_SUM_WINDOWS = 65; // up to 2^(32 × 32) = 2^1024
const UNIT = 2 ** WINDOW_BITS;
const SCALES = Float64Array.from({ length: EXACT_SUM_WINDOWS + 1 }, (_, w) => 2 ** (WINDOW_BITS * (w + LOWEST_WINDOW)));
/** Additions after which the counts are carried (well under the 2^21 that keeps them exact). */
const NORMALIZE_EVERY = 1 << 20;

export class ExactSums {
  /** `count` sums, each EXACT_SUM_WINDOWS window counts (normalized: each in [0, 2^32)). */
  readonly windows: Float64Array;
  private additions = 0;

  constructor(readonly count: number, windows?: Float64Array) {
    if (windows !== undefined && windows.length !== count * EXACT_SUM_WINDOWS) throw new RangeError(`${windows.length} window counts for ${count} sums`);
    this.windows = windows ?? new Float64Array(count * EXACT_SUM_WINDOWS);
  }

  /** sums[index] += value, exactly; value must be ≥ 0 (Infinity makes the sum infinite). */
  add(index: number, value: number): void {
    if (!(value > 0)) {
      if (value === 0) return;
      throw new RangeError(`exact sums take non-negative numbers, not ${value}`);
    }
    const base = index * EXACT_SUM_WINDOWS;
    if (value === Infinity) {
      this.windows[base + EXACT_SUM_WINDOWS - 1] = Infinity;
      return;
    }
    let w = Math.min(EXACT_SUM_WINDOWS - 1, Math.max(0, Math.floor(Math.log2(value) / WINDOW_BITS) - LOWEST_WINDOW));
    // log2 may be off by a hair next to a boundary: settle the window on the exact powers.
    if (w < EXACT_SUM_WINDOWS - 1 && value >= SCALES[w + 1]!) w += 1;
    if (w > 0 && value < SCALES[w]!) w -= 1;
    let rest = value;
    while (rest > 0 && w >= 0) {
      const units = Math.floor(rest / SCALES[w]!);
      this.windows[base + w]! += units;
      rest -= units * SCALES[w]!;
      w -= 1;
    }
    this.additions += 1;
    if (this.additions >= NORMALIZE_EVERY) this.normalize();
  }

  /** Adds another set of sums (a shard's) into this one, exactly. */
  merge(other: ExactSums): void {
    if (other.count !== this.count) throw new RangeError(`merging ${other.count} sums into ${this.count}`);
    other.normalize();
    this.normalize();
    for (let k = 0; k < this.windows.length; k += 1) this.windows[k]! += other.windows[k]!;
    this.normalize();
  }

  /** Carries each window's overflow into the next: counts in [0, 2^32), one representation per value. */
  normalize(): void {
    for (let index = 0; index < this.count; index += 1) {
      const base = index * EXACT_SUM_WINDOWS;
      for (let w = 0; w < EXACT_SUM_WINDOWS - 1; w += 1) {
        const count = this.windows[base + w]!;
        if (count < UNIT) continue;
        const carry = Math.floor(count / UNIT);
        this.windows[base + w] = count - carry * UNIT;
        this.windows[base + w + 1]! += carry;
      }
    }
    this.additions = 0;
  }

  /** The sum, rounded to a double from its normalized form (the same double for the same exact sum). */
  value(index: number): number {
    if (this.additions > 0) this.normalize();
    const base = index * EXACT_SUM_WINDOWS;
    let total = 0;
    for (let w = EXACT_SUM_WINDOWS - 1; w >= 0; w -= 1) total += this.windows[base + w]! * SCALES[w]!;
    return total;
  }
}
