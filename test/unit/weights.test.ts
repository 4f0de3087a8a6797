import { ValidationError } from '../../lib/errors';
import { decodeWeights, encodeWeights, parseWeights, weightsToJson } from '../../lib/weights';

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
    for (const json of [[0.1, -2.5e-300, 1e308], [[2], [2, 4, 5], [2]], [[[1, 2], [3, 4]], [0.3]]]) {
      const weights = parseWeights(json);
      const stored = encodeWeights(weights);
      expect(stored.bytes.buffer.length).toBe(weights.values.length * 8);
      expect(weightsToJson(decodeWeights(stored))).toEqual(json);
    }
  });

  it('refuses stored weights whose byte length does not match', () => {
    const stored = encodeWeights(parseWeights([1, 2]));
    expect(() => decodeWeights({ ...stored, length: 3 })).toThrow(/corrupt/);
  });
});
