import fixtures from '../fixtures/strategies/strategies.json';
import {
  accumulateDelta,
  accumulateSquaredDistances,
  clipFactor,
  coordinateMedianBlock,
  deltaNorm,
  initialOptimizerState,
  krumScores,
  seededGaussian,
  cryptoGaussian,
  selectInPlace,
  selectLowest,
  serverOptimizerStep,
  stalenessOf,
  stalenessWeight,
  trimCount,
  trimmedMeanBlock,
  type ServerOptimizerName,
  type ServerOptimizerOptions,
} from '../../lib/algorithms/strategies';

/** |actual − expected| ≤ 1e-12 · max(1, |expected|), coordinate by coordinate. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  const worst = expected.reduce((max, value, j) => Math.max(max, Math.abs(actual[j]! - value) / Math.max(1, Math.abs(value))), 0);
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const rows = (matrix: readonly (readonly number[])[]) => matrix.map((row) => Float64Array.from(row));

/** Runs a block kernel over the whole vector in blocks of `block` coordinates, as the streamed path does. */
function inBlocks(
  columns: Float64Array[] | Float32Array[],
  block: number,
  kernel: (cols: (Float32Array | Float64Array)[], length: number, out: Float64Array, offset: number) => void,
): Float64Array {
  const total = columns[0]!.length;
  const out = new Float64Array(total);
  for (let start = 0; start < total; start += block) {
    const length = Math.min(block, total - start);
    kernel(columns.map((c) => c.subarray(start, start + length)), length, out, start);
  }
  return out;
}

describe('coordinate-wise median and trimmed mean (NumPy fixtures)', () => {
  const updates = rows(fixtures.coordinate.updates);

  it.each(fixtures.coordinate.cases.map((c) => [c.kind, c.n, (c as { beta?: number }).beta ?? null, c] as const))(
    '%s of %i updates (β=%s) equals NumPy to 1e-12, in blocks of 1, 4 and all coordinates',
    (kind, n, beta, c) => {
      for (const block of [1, 4, 13]) {
        const result = inBlocks(updates.slice(0, n), block, (cols, length, out, offset) =>
          kind === 'median'
            ? coordinateMedianBlock(cols, length, out, offset)
            : trimmedMeanBlock(cols, length, trimCount(n, beta!), out, offset),
        );
        expectClose(result, c.expected);
      }
    },
  );

  it('the median and trimmed mean of identical updates equal that update (generated cases)', () => {
    const random = seededUniform(7);
    for (let round = 0; round < 50; round += 1) {
      const n = 1 + Math.floor(random() * 12);
      const length = 1 + Math.floor(random() * 20);
      const update = Float64Array.from({ length }, () => (random() - 0.5) * 10 ** (random() * 20 - 10));
      const columns = Array.from({ length: n }, () => update);
      const median = new Float64Array(length);
      coordinateMedianBlock(columns, length, median, 0);
      expect(median).toEqual(update);
      const beta = random() * 0.4999;
      const trimmed = new Float64Array(length);
      trimmedMeanBlock(columns, length, trimCount(n, beta), trimmed, 0);
      // The mean of k equal values is that value to within rounding of the k-term sum.
      expectClose(trimmed, [...update], 1e-15);
    }
  });

  it('works on float32 updates, sorting and summing in float64', () => {
    const f32 = updates.slice(0, 5).map((u) => Float32Array.from(u));
    const widened = f32.map((u) => Float64Array.from(u));
    const result = inBlocks(f32, 4, (cols, length, out, offset) => trimmedMeanBlock(cols, length, 1, out, offset));
    const expected = inBlocks(widened, 13, (cols, length, out, offset) => trimmedMeanBlock(cols, length, 1, out, offset));
    expect(result).toEqual(expected);
  });

  it('refuses a trim that leaves no values', () => {
    expect(() => trimmedMeanBlock(rows([[1], [2]]), 1, 1, new Float64Array(1), 0)).toThrow(RangeError);
  });
});

describe('Krum and Multi-Krum (NumPy fixtures)', () => {
  const { updates, f, scores, cases } = fixtures.krum;
  const n = updates.length;

  function distancesInBlocks(columns: Float64Array[], block: number): Float64Array {
    const distances = new Float64Array(n * n);
    const total = columns[0]!.length;
    for (let start = 0; start < total; start += block) {
      const length = Math.min(block, total - start);
      accumulateSquaredDistances(columns.map((c) => c.subarray(start, start + length)), length, distances);
    }
    return distances;
  }

  it('scores each update as NumPy does, whatever the block size', () => {
    for (const block of [1, 3, 10]) expectClose(krumScores(distancesInBlocks(rows(updates), block), n, f), scores, 1e-12);
  });

  it.each(cases.map((c) => [c.m, c] as const))('selects the %i update(s) NumPy selects', (m, c) => {
    expect(selectLowest(krumScores(distancesInBlocks(rows(updates), 4), n, f), m)).toEqual(c.selected);
  });

  it('never selects one of f far-away Byzantine outliers (generated cases)', () => {
    const random = seededUniform(11);
    for (let round = 0; round < 40; round += 1) {
      const faults = Math.floor(random() * 4);
      const count = 2 * faults + 3 + Math.floor(random() * 5);
      const length = 1 + Math.floor(random() * 30);
      const byzantine = new Set<number>();
      while (byzantine.size < faults) byzantine.add(Math.floor(random() * count));
      const columns = Array.from({ length: count }, (_, i) =>
        Float64Array.from({ length }, () => (random() - 0.5) + (byzantine.has(i) ? 1e3 * (1 + random()) * (random() < 0.5 ? -1 : 1) : 0)),
      );
      const distances = new Float64Array(count * count);
      accumulateSquaredDistances(columns, length, distances);
      const m = count - faults - faults; // Multi-Krum may take up to n − f; keep a margin of f
      const selected = selectLowest(krumScores(distances, count, faults), Math.max(1, m));
      for (const index of selected) expect(byzantine.has(index)).toBe(false);
    }
  });

  it('refuses n < 2f + 3', () => {
    expect(() => krumScores(new Float64Array(16), 4, 1)).toThrow(/2f \+ 3/);
  });
});

describe('server optimizers, Reddi et al. Algorithm 2 and FedAvgM (NumPy fixtures)', () => {
  it.each(fixtures.optimizers.cases.map((c) => [c.name, c] as const))('%s: three rounds, resuming from the state, equal NumPy', (name, c) => {
    const options = c.params as ServerOptimizerOptions;
    let x: Float64Array = Float64Array.from(fixtures.optimizers.initial);
    const state = initialOptimizerState(name as ServerOptimizerName, options, x.length);
    for (const round of c.rounds) {
      const mean = new Float64Array(x.length);
      for (const update of round.updates) update.forEach((value, j) => (mean[j]! += value));
      const delta = mean.map((sum, j) => sum / round.updates.length - x[j]!);
      x = serverOptimizerStep(name as ServerOptimizerName, options, x, delta, state);
      expectClose(x, round.expected);
      expectClose(state.m, round.m);
      if (round.v !== null) expectClose(state.v!, round.v);
    }
  });

  it('FedAvgM with momentum 0 and learning rate 1 equals FedAvg (generated cases)', () => {
    const random = seededUniform(5);
    for (let round = 0; round < 30; round += 1) {
      const length = 1 + Math.floor(random() * 50);
      const parent = Float64Array.from({ length }, () => random() * 10 - 5);
      const mean = Float64Array.from({ length }, () => random() * 10 - 5);
      const delta = mean.map((value, j) => value - parent[j]!);
      const options = { server_lr: 1, momentum: 0 };
      const state = initialOptimizerState('fedavgm', options, length);
      // Momentum 0 forgets any earlier state.
      state.m.fill(123);
      expectClose(serverOptimizerStep('fedavgm', options, parent, delta, state), [...mean], 1e-14);
    }
  });
});

describe('clipping and central DP', () => {
  const { base, updates, clip_norm: clipNorm, norms, expected, expected_without_base: withoutBase, clipped_updates: clippedCount } = fixtures.clipping;

  it('clips each delta from the parent to the L2 bound and averages them, as NumPy does', () => {
    const parent = Float64Array.from(base);
    const sum = new Float64Array(parent.length);
    let clipped = 0;
    updates.forEach((update, i) => {
      const values = Float64Array.from(update);
      const norm = deltaNorm(values, parent);
      expect(norm).toBeCloseTo(norms[i]!, 12);
      const factor = clipFactor(norm, clipNorm);
      if (factor < 1) clipped += 1;
      accumulateDelta(sum, values, parent, factor / updates.length);
    });
    expect(clipped).toBe(clippedCount);
    expectClose(sum.map((delta, j) => parent[j]! + delta), expected);
  });

  it('clips the updates themselves when there is no parent', () => {
    const sum = new Float64Array(base.length);
    for (const update of updates) {
      const values = Float64Array.from(update);
      accumulateDelta(sum, values, null, clipFactor(deltaNorm(values, null), clipNorm) / updates.length);
    }
    expectClose(sum, withoutBase);
  });

  it('adds Gaussian noise of the requested σ (crypto source: mean ≈ 0, std ≈ σ over 200k draws)', () => {
    const noise = new Float64Array(200_000);
    cryptoGaussian.addNoise(noise, 0.25);
    const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
    const std = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length);
    expect(Math.abs(mean)).toBeLessThan(0.005); // 5 standard errors
    expect(Math.abs(std / 0.25 - 1)).toBeLessThan(0.01);
    expect(new Set(noise).size).toBe(noise.length);
  });

  it('a seeded source repeats itself (tests only), the crypto source does not', () => {
    const a = new Float64Array(8);
    const b = new Float64Array(8);
    seededGaussian(42).addNoise(a, 1);
    seededGaussian(42).addNoise(b, 1);
    expect(a).toEqual(b);
    const c = new Float64Array(8);
    const d = new Float64Array(8);
    cryptoGaussian.addNoise(c, 1);
    cryptoGaussian.addNoise(d, 1);
    expect(c).not.toEqual(d);
  });
});

describe('staleness weighting (FedAsync/FedBuff)', () => {
  const { updates, taus, exponent, examples, expected_mean: expectedMean, expected_fedavg: expectedFedAvg } = fixtures.staleness;

  it('s(τ) = (1 + τ)^−a: 1 for a fresh update, smaller the staler', () => {
    expect(stalenessWeight(0, 0.5)).toBe(1);
    expect(stalenessWeight(3, 0.5)).toBe(0.5);
    expect(stalenessWeight(1, 0)).toBe(1);
  });

  it('τ is the parent\'s level minus the base\'s level; no base means before level 0', () => {
    expect(stalenessOf(4, 4)).toBe(0);
    expect(stalenessOf(4, 1)).toBe(3);
    expect(stalenessOf(0, null)).toBe(1);
    expect(stalenessOf(null, null)).toBe(0);
  });

  it.each([
    ['the mean', () => taus.map((tau) => stalenessWeight(tau, exponent)), expectedMean],
    ['FedAvg', () => taus.map((tau, i) => examples[i]! * stalenessWeight(tau, exponent)), expectedFedAvg],
  ] as const)('weighs %s as NumPy does', (_, weights, expected) => {
    const w = weights();
    const sum = new Float64Array(updates[0]!.length);
    updates.forEach((update, i) => update.forEach((value, j) => (sum[j]! += w[i]! * value)));
    const total = w.reduce((a, b) => a + b, 0);
    expectClose(sum.map((value) => value / total), expected);
  });
});

/** A small deterministic generator for generated cases (mulberry32). */
function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('selectInPlace (the selection under the median and trimmed mean)', () => {
  it('puts the k-th smallest value at k, smaller before and larger after, as a sort would (generated cases with ties)', () => {
    const random = seededUniform(3);
    for (let round = 0; round < 500; round += 1) {
      const n = 1 + Math.floor(random() * 60);
      const distinct = 1 + Math.floor(random() * n);
      const values = Float64Array.from({ length: n }, () => Math.floor(random() * distinct) - distinct / 2);
      const sorted = Float64Array.from(values).sort();
      const k = Math.floor(random() * n);
      const a = Float64Array.from(values);
      selectInPlace(a, 0, n - 1, k);
      expect(a[k]).toBe(sorted[k]);
      for (let i = 0; i < k; i += 1) expect(a[i]!).toBeLessThanOrEqual(a[k]!);
      for (let i = k + 1; i < n; i += 1) expect(a[i]!).toBeGreaterThanOrEqual(a[k]!);
      expect(Float64Array.from(a).sort()).toEqual(sorted);
    }
  });

  it('stays correct on inputs made to defeat its pivots (sorted, reversed, organ-pipe, all equal)', () => {
    const n = 101;
    const inputs = [
      Float64Array.from({ length: n }, (_, i) => i),
      Float64Array.from({ length: n }, (_, i) => n - i),
      Float64Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
      new Float64Array(n).fill(7),
    ];
    for (const input of inputs) {
      for (const k of [0, 1, 50, 99, 100]) {
        const a = Float64Array.from(input);
        selectInPlace(a, 0, n - 1, k);
        expect(a[k]).toBe(Float64Array.from(input).sort()[k]);
      }
    }
  });
});

describe('Krum at the magnitude bound', () => {
  it('keeps away outliers at the magnitude bound, and ties infinite scores instead of comparing NaN', () => {
    const columns = [
      Float64Array.of(1e150, -1e150),
      Float64Array.of(0.1, 0.2),
      Float64Array.of(-1e150, 1e150),
      Float64Array.of(0.2, 0.1),
      Float64Array.of(0.15, 0.15),
      Float64Array.of(0.12, 0.18),
      Float64Array.of(0.11, 0.16),
    ];
    const distances = new Float64Array(49);
    accumulateSquaredDistances(columns, 2, distances);
    const scores = krumScores(distances, 7, 2);
    expect(scores[0]).toBeGreaterThan(1e300);
    expect(selectLowest(scores, 3).some((index) => index === 0 || index === 2)).toBe(false);
    expect(selectLowest(Float64Array.of(Infinity, 1, Infinity, 0), 4)).toEqual([0, 1, 2, 3]);
    expect(selectLowest(Float64Array.of(Infinity, 1, Infinity, 0), 3)).toEqual([0, 1, 3]);
  });
});
