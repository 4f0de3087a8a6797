import { EXACT_SUM_WINDOWS, ExactSums, SUM_CHUNK_VALUES } from '../../lib/algorithms/exact-sum';
import { accumulateSquaredDistances, addDeltaSquares, deltaNorm, deltaNormExact } from '../../lib/algorithms/strategies';

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('ExactSums', () => {
  it('gives the same double whatever the order and grouping of the additions', () => {
    const random = seeded(7);
    const values = Array.from({ length: 5_000 }, () => random() ** 8 * 10 ** Math.floor(random() * 40 - 20));
    const forward = new ExactSums(1);
    values.forEach((value) => forward.add(0, value));
    const backward = new ExactSums(1);
    [...values].reverse().forEach((value) => backward.add(0, value));
    // Seven groups summed on their own, then merged: the shards' way.
    const merged = new ExactSums(1);
    for (let g = 0; g < 7; g += 1) {
      const part = new ExactSums(1);
      values.filter((_, i) => i % 7 === g).forEach((value) => part.add(0, value));
      merged.merge(new ExactSums(1, Float64Array.from(part.windows.map((count) => count))));
    }
    expect(backward.value(0)).toBe(forward.value(0));
    expect(merged.value(0)).toBe(forward.value(0));
    // Floating-point summation does depend on the order here, which is why exact sums are needed.
    const naive = (list: number[]) => list.reduce((sum, value) => sum + value, 0);
    expect(naive(values)).not.toBe(naive([...values].reverse()));
    expect(Math.abs(forward.value(0) - naive(values)) / forward.value(0)).toBeLessThan(1e-14);
  });

  it('rounds small hand-checked sums exactly', () => {
    const sums = new ExactSums(2);
    sums.add(0, 2 ** 60);
    sums.add(0, 1);
    sums.add(0, 2 ** -60);
    expect(sums.value(0)).toBe(2 ** 60);
    [0.5, 0.25, 0.125, 3].forEach((value) => sums.add(1, value));
    expect(sums.value(1)).toBe(3.875);
    expect(sums.windows).toHaveLength(2 * EXACT_SUM_WINDOWS);
  });

  it('keeps its counts exact past 2^20 additions (it carries before a window could round)', () => {
    const sums = new ExactSums(1);
    const big = 2 ** 32 - 1; // the largest piece a window takes
    for (let i = 0; i < (1 << 21) + 5; i += 1) sums.add(0, big);
    expect(sums.value(0)).toBe(big * ((1 << 21) + 5));
  });

  it('takes Infinity (an overflowed distance) and refuses negative numbers', () => {
    const sums = new ExactSums(1);
    sums.add(0, 1e300);
    sums.add(0, Infinity);
    expect(sums.value(0)).toBe(Infinity);
    expect(() => sums.add(0, -1)).toThrow(RangeError);
  });
});

describe('norms and distances split into shards', () => {
  const random = seeded(3);
  const length = 5 * SUM_CHUNK_VALUES + 77;
  const columns = Array.from({ length: 6 }, () => Float64Array.from({ length }, () => random() * 2 - 1));
  const base = Float64Array.from({ length }, () => random());

  it('deltaNormExact agrees with the sequential norm and with shards merged on chunk edges', () => {
    const whole = deltaNormExact(columns[0]!, base);
    expect(Math.abs(whole - deltaNorm(columns[0]!, base))).toBeLessThan(1e-12);
    const merged = new ExactSums(1);
    for (const [start, end] of [[0, 1_024], [1_024, 1_536], [1_536, length]] as const) {
      const part = new ExactSums(1);
      addDeltaSquares(columns[0]!.subarray(start, end), base.subarray(start, end), part, 0);
      merged.merge(part);
    }
    expect(Math.sqrt(merged.value(0))).toBe(whole);
  });

  it('squared distances in tile-aligned blocks equal those of the whole, bit for bit', () => {
    const n = columns.length;
    const whole = new ExactSums(n * n);
    accumulateSquaredDistances(columns, length, whole);
    const merged = new ExactSums(n * n);
    for (const [start, end] of [[0, 512], [512, 2_048], [2_048, length]] as const) {
      const part = new ExactSums(n * n);
      accumulateSquaredDistances(columns.map((column) => column.subarray(start, end)), end - start, part);
      merged.merge(part);
    }
    for (let i = 0; i < n; i += 1) for (let j = i + 1; j < n; j += 1) expect(merged.value(i * n + j)).toBe(whole.value(i * n + j));
    const plain = new Float64Array(n * n);
    accumulateSquaredDistances(columns, length, plain);
    expect(Math.abs(plain[1]! - whole.value(1)) / plain[1]!).toBeLessThan(1e-14);
  });
});
