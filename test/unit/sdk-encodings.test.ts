import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// This worktree's SDK as built (npm run build:sdk, run before the tests by npm test's pretest).
import { decodeValues, encodedByteSize, encodeValues, ErrorFeedback } from '@fma-serverless/client';
import * as server from '../../lib/weights';

interface EncodingCase {
  name: string;
  values: number[];
  float16: string;
  bfloat16: string;
  bfloat16_decoded: string[];
  int8_input: number[];
  int8: string;
  int8_decoded: number[];
}

// Written by test/fixtures/encodings/make_fixtures.py with NumPy, from the formats' definitions.
const fixture = JSON.parse(readFileSync(join(__dirname, '../fixtures/encodings/encodings.json'), 'utf8')) as { cases: EncodingCase[] };
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** A seeded uniform source in [0, 1) (mulberry32), so stochastic rounding is reproducible here. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('the TypeScript SDK\'s encoders, against the NumPy references and the service', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: float16, bfloat16 and int8 bytes are the references\'', (_name, c) => {
    expect(base64(encodeValues(Float64Array.from(c.values), 'float16'))).toBe(c.float16);
    expect(base64(encodeValues(Float64Array.from(c.values), 'bfloat16'))).toBe(c.bfloat16);
    expect(base64(encodeValues(Float64Array.from(c.int8_input), 'int8'))).toBe(c.int8);
    const int8 = new Uint8Array(Buffer.from(c.int8, 'base64'));
    expect(Array.from(decodeValues(int8, 'int8', c.int8_input.length, new Float32Array(c.int8_input.length)))).toEqual(c.int8_decoded);
  });

  it('encodes float32 input as the service does, and sizes every dtype alike', () => {
    const values = Float32Array.from({ length: 4_099 }, (_, i) => Math.tan(i) / 7);
    for (const dtype of ['float16', 'bfloat16', 'int8', 'float32', 'float64'] as const) {
      expect(base64(encodeValues(values, dtype))).toBe(base64(server.encodeValues(values, dtype)));
      expect(encodedByteSize(dtype, 4_099)).toBe(server.encodedByteSize(dtype, 4_099));
    }
  });

  it('refuses NaN and infinite values rather than encoding them', () => {
    expect(() => encodeValues(Float64Array.from([1, Number.NaN]), 'int8')).toThrow(/value 1 is NaN/);
    expect(() => encodeValues(Float64Array.from([Infinity]), 'float16')).toThrow(/finite/);
  });

  it('rounds int8 stochastically when asked: the same format, each q the floor or ceiling of x/s, unbiased on average', () => {
    const values = Float64Array.from({ length: 64 }, (_, i) => (i === 0 ? 1.27 : 0.004));
    const nearest = decodeValues(encodeValues(values, 'int8'), 'int8', 64, new Float32Array(64));
    expect(nearest[5]).toBeCloseTo(0, 12); // 0.004 / 0.01 = 0.4 rounds to 0
    const random = seeded(7);
    let sum = 0;
    const trials = 2_000;
    for (let t = 0; t < trials; t += 1) {
      const bytes = encodeValues(values, 'int8', { stochastic: true, random });
      expect(bytes.byteLength).toBe(68);
      const q = new Int8Array(bytes.buffer, 4, 64)[5]!;
      expect([0, 1]).toContain(q);
      sum += decodeValues(bytes, 'int8', 64, new Float32Array(64))[5]!;
    }
    expect(sum / trials).toBeGreaterThan(0.0036);
    expect(sum / trials).toBeLessThan(0.0044);
  });

  it('error feedback carries the residual: what was sent over rounds sums to the true updates minus the last residual', () => {
    const feedback = new ErrorFeedback('int8');
    const length = 1_000;
    const sent = new Float64Array(length);
    const truth = new Float64Array(length);
    for (let round = 0; round < 20; round += 1) {
      const update = Float64Array.from({ length }, (_, i) => Math.sin(round * 13 + i) * 0.01 + (i === 0 ? 1 : 0));
      const bytes = feedback.encode(update);
      decodeValues(bytes, 'int8', length, new Float32Array(length)).forEach((value, i) => (sent[i]! += value));
      update.forEach((value, i) => (truth[i]! += value));
    }
    const residual = feedback.lastResidual!;
    const worst = Math.max(...truth.map((value, i) => Math.abs(sent[i]! + residual[i]! - value)));
    expect(worst).toBeLessThan(1e-12);
    // Without feedback the errors add up; with it they stay one step's worth.
    const plain = new Float64Array(length);
    for (let round = 0; round < 20; round += 1) {
      const update = Float64Array.from({ length }, (_, i) => Math.sin(round * 13 + i) * 0.01 + (i === 0 ? 1 : 0));
      decodeValues(encodeValues(update, 'int8'), 'int8', length, new Float32Array(length)).forEach((value, i) => (plain[i]! += value));
    }
    const error = (a: Float64Array) => Math.sqrt(a.reduce((s, value, i) => s + (value - truth[i]!) ** 2, 0));
    expect(error(sent)).toBeLessThan(error(plain) / 2);
    feedback.reset();
    expect(feedback.lastResidual).toBeNull();
  });
});
