import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { checkWeightsStream, WEIGHTS_LIMITS } from '../../lib/weights';

/** The bytes cut into chunks of awkward sizes, as a network stream delivers them. */
function chunked(bytes: Uint8Array, sizes: number[]): Readable {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.byteLength; i += 1) {
    const size = sizes[i % sizes.length]!;
    chunks.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  return Readable.from(chunks);
}

describe('checkWeightsStream', () => {
  const values = Float64Array.from({ length: 300_000 }, (_, i) => Math.cos(i) * 1e3);
  const bytes = new Uint8Array(values.buffer);

  it('hashes and counts the bytes however they are chunked, and finds every value finite', async () => {
    const check = await checkWeightsStream(chunked(bytes, [7, 1_048_583, 3, 65_536]), 'float64');
    expect(check).toEqual({
      byteSize: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      firstNonFinite: null,
      firstTooLarge: null,
      firstBadScale: null,
    });
  });

  it('names the first value beyond the magnitude bound (finite, but one that could overflow a sum)', async () => {
    const copy = Float64Array.from(values);
    copy[200_001] = -(WEIGHTS_LIMITS.maxMagnitude * 10);
    const check = await checkWeightsStream(chunked(new Uint8Array(copy.buffer), [4_099]), 'float64');
    expect(check).toMatchObject({ firstNonFinite: null, firstTooLarge: 200_001 });
  });

  it.each([
    ['NaN', Number.NaN, 0],
    ['Infinity', Number.POSITIVE_INFINITY, 131_073],
    ['-Infinity', Number.NEGATIVE_INFINITY, 299_999],
  ])('names the first %s, even when its bytes straddle two chunks and two blocks', async (_, bad, index) => {
    const copy = Float64Array.from(values);
    copy[index] = bad;
    copy[index + 1 < copy.length ? index + 1 : index] = bad;
    const check = await checkWeightsStream(chunked(new Uint8Array(copy.buffer), [5, 131_075, 11]), 'float64');
    expect(check.firstNonFinite).toBe(index);
  });

  it('reads float32 values as float32', async () => {
    const floats = Float32Array.from([1, 2, Number.NaN, 4]);
    const check = await checkWeightsStream(chunked(new Uint8Array(floats.buffer), [3]), 'float32');
    expect(check.firstNonFinite).toBe(2);
    expect(check.byteSize).toBe(16);
  });
});
