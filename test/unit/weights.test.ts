import { ValidationError } from '../../lib/errors';
import { createHash } from 'node:crypto';
import { allocateWeightsBuffer, float64Bytes, parseWeights, shapeOfWeights, weightsFromBytes, weightsToJson } from '../../lib/weights';
import { WEIGHTS_LIMITS } from '../../lib/weights/weights';

describe('weights', () => {
  it('parses a flat vector', () => {
    const weights = parseWeights([1, 2, 4]);
    expect(weights.layout).toBe('vector');
    expect(weights.shapes).toEqual([[3]]);
    expect(Array.from(weights.values)).toEqual([1, 2, 4]);
  });

  it('parses layers of different sizes, and nested rectangular layers', () => {
    const weights = parseWeights([[2], [2, 4, 5], [[1, 2], [3, 4], [5, 6]]]);
    expect(weights.layout).toBe('layers');
    expect(weights.shapes).toEqual([[1], [3], [3, 2]]);
    expect(Array.from(weights.values)).toEqual([2, 2, 4, 5, 1, 2, 3, 4, 5, 6]);
  });

  it.each([
    ['an empty list', []],
    ['a string', 'weights'],
    ['a string inside', [1, '2']],
    ['NaN', [1, Number.NaN]],
    ['Infinity', [[1], [Number.NEGATIVE_INFINITY]]],
    ['numbers mixed with layers', [1, [2]]],
    ['a ragged layer', [[[1, 2], [3]]]],
    ['null inside', [[1, null]]],
  ])('rejects %s with a ValidationError', (_, json) => {
    expect(() => parseWeights(json, 'data')).toThrow(ValidationError);
  });

  it('names the offending field', () => {
    expect(() => parseWeights([[1], [2, Number.NaN]], 'data')).toThrow(/data\.1\.1 must be a finite number/);
  });

  it('round-trips through JSON and through the stored binary form exactly', () => {
    for (const json of [[0.1, -2.5e-300, 1e150], [[2], [2, 4, 5], [2]], [[[1, 2], [3, 4]], [0.3]]]) {
      const weights = parseWeights(json);
      const { bytes, sha256 } = float64Bytes(weights.values);
      expect(bytes.byteLength).toBe(weights.values.length * 8);
      expect(sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      const ref = { key: 'k', dtype: 'float64' as const, ...shapeOfWeights(weights), byteSize: bytes.byteLength, sha256 };
      const copy = allocateWeightsBuffer(bytes.byteLength);
      copy.set(bytes);
      expect(weightsToJson(weightsFromBytes(ref, copy))).toEqual(json);
    }
  });

  it('reads float32 bytes as the same numbers, widened to float64', () => {
    const values = Float32Array.from([0.1, -3.5, 1e30]);
    const bytes = new Uint8Array(values.buffer);
    const ref = { key: 'k', dtype: 'float32' as const, layout: 'vector' as const, shapes: [[3]], length: 3, byteSize: 12, sha256: '' };
    expect(Array.from(weightsFromBytes(ref, bytes).values)).toEqual(Array.from(values));
  });

  it('refuses stored weights whose byte length does not match', () => {
    const { bytes, sha256 } = float64Bytes(Float64Array.from([1, 2]));
    const ref = { key: 'k', dtype: 'float64' as const, layout: 'vector' as const, shapes: [[3]], length: 3, byteSize: 24, sha256 };
    expect(() => weightsFromBytes(ref, bytes)).toThrow(/corrupt/);
  });

  describe('limits, checked before any value is copied', () => {
    const nested = (depth: number): unknown => {
      let value: unknown = [1];
      for (let i = 1; i < depth; i += 1) value = [value];
      return value;
    };

    it('refuses data nested 20,000 deep with a 400 naming the limit, without overflowing the stack', () => {
      expect(() => parseWeights(nested(20_000), 'data')).toThrow(/more than the limit of 8 dimensions/);
      expect(() => parseWeights([nested(3_000)], 'data')).toThrow(ValidationError);
    });

    it('accepts a layer of exactly the dimension limit', () => {
      const weights = parseWeights([nested(WEIGHTS_LIMITS.maxDimensions)], 'data');
      expect(weights.shapes).toEqual([Array(WEIGHTS_LIMITS.maxDimensions).fill(1)]);
    });

    it('refuses more values than the limit, as a vector and as layers', () => {
      const many = new Array<number>(WEIGHTS_LIMITS.maxValues + 1).fill(0.5);
      expect(() => parseWeights(many, 'data')).toThrow(`more than the limit of ${WEIGHTS_LIMITS.maxValues}`);
      const half = new Array<number>(WEIGHTS_LIMITS.maxValues / 2 + 1).fill(0.5);
      expect(() => parseWeights([half, half], 'data')).toThrow(`more than the limit of ${WEIGHTS_LIMITS.maxValues} values`);
    });

    it('refuses more layers than the limit', () => {
      const layers = Array.from({ length: WEIGHTS_LIMITS.maxLayers + 1 }, () => [1]);
      expect(() => parseWeights(layers, 'data')).toThrow(`more than the limit of ${WEIGHTS_LIMITS.maxLayers}`);
      expect(parseWeights(layers.slice(1), 'data').shapes).toHaveLength(WEIGHTS_LIMITS.maxLayers);
    });

    it('refuses magnitudes beyond the bound that keeps aggregation finite, and accepts the bound itself', () => {
      expect(() => parseWeights([1.7e308, 1.7e308, 1.7e308], 'data')).toThrow(/data\.0 must be at most 1e\+150 in magnitude/);
      expect(() => parseWeights([[1], [2, -1e151]], 'data')).toThrow(/data\.1\.1 must be at most/);
      expect(Array.from(parseWeights([1e150, -1e150], 'data').values)).toEqual([1e150, -1e150]);
    });

    it('still names the deepest offending element of a ragged layer', () => {
      expect(() => parseWeights([[[1, 2], [3]]], 'data')).toThrow(/data\.0\.1 must be a rectangular list of shape \[2\]/);
      expect(() => parseWeights([[[1, 2], [3, 'x']]], 'data')).toThrow(/data\.0\.1\.1 must be a number/);
    });
  });
});
