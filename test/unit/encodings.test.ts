import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  checkWeightsStream,
  decodeValues,
  encodedByteSize,
  encodedRange,
  encodeValues,
  INT8_BLOCK_BYTES,
  scaleProblem,
  type WeightsDtype,
} from '../../lib/weights';

interface EncodingCase {
  name: string;
  values: number[];
  float16: string;
  float16_decoded: string[];
  bfloat16: string;
  bfloat16_decoded: string[];
  int8_input: number[];
  int8: string;
  int8_decoded: number[];
}

// Written by test/fixtures/encodings/make_fixtures.py with NumPy, from the formats' definitions.
const fixture = JSON.parse(readFileSync(join(__dirname, '../fixtures/encodings/encodings.json'), 'utf8')) as { block: number; cases: EncodingCase[] };
const bytesOf = (base64: string) => new Uint8Array(Buffer.from(base64, 'base64'));
const number = (text: string) => (text === 'inf' ? Infinity : text === '-inf' ? -Infinity : Number(text));
/** Bytes copied to offset 0 of a buffer of their own, as the store's reads deliver them. */
const aligned = (bytes: Uint8Array) => new Uint8Array(bytes);

describe('the encodings of issue #26, against NumPy references', () => {
  it('uses the documented int8 block of 64 values', () => expect(fixture.block).toBe(64));

  describe.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    it('encodes float16 as numpy does (round to nearest even, straight from float64)', () => {
      expect(Buffer.from(encodeValues(Float64Array.from(c.values), 'float16')).toString('base64')).toBe(c.float16);
    });
    it('encodes bfloat16 as the bit-manipulation reference does', () => {
      expect(Buffer.from(encodeValues(Float64Array.from(c.values), 'bfloat16')).toString('base64')).toBe(c.bfloat16);
    });
    it('quantises int8 blockwise as the NumPy quantiser does, scales interleaved', () => {
      const bytes = encodeValues(Float64Array.from(c.int8_input), 'int8');
      expect(bytes.byteLength).toBe(encodedByteSize('int8', c.int8_input.length));
      expect(Buffer.from(bytes).toString('base64')).toBe(c.int8);
    });
    it.each([
      ['float16', 'float16_decoded'],
      ['bfloat16', 'bfloat16_decoded'],
    ] as const)('decodes %s to the values numpy gives', (dtype, decoded) => {
      const length = c.values.length;
      const values = decodeValues(aligned(bytesOf(c[dtype])), dtype, length, new Float32Array(length));
      expect(Array.from(values)).toEqual(c[decoded].map(number));
    });
    it('decodes int8 to float32(q) × s as numpy gives, whole and from any value on', () => {
      const length = c.int8_input.length;
      const bytes = aligned(bytesOf(c.int8));
      expect(Array.from(decodeValues(bytes, 'int8', length, new Float32Array(length)))).toEqual(c.int8_decoded);
      for (const [first, last] of [[0, 1], [63, 65], [64, 128], [130, length], [length - 1, length]] as const) {
        if (last > length || first >= last) continue;
        const range = encodedRange('int8', length, first, last);
        const part = aligned(bytes.subarray(range.start, range.end));
        const values = decodeValues(part, 'int8', last - first, new Float32Array(last - first), first - range.firstValue);
        expect(Array.from(values)).toEqual(c.int8_decoded.slice(first, last));
      }
    });
  });

  it('sizes int8 as P + 4 × ceil(P / 64) bytes, and maps value ranges to whole blocks', () => {
    expect(encodedByteSize('int8', 1)).toBe(5);
    expect(encodedByteSize('int8', 64)).toBe(68);
    expect(encodedByteSize('int8', 65)).toBe(73);
    expect(encodedByteSize('float16', 10)).toBe(20);
    expect(encodedByteSize('bfloat16', 10)).toBe(20);
    expect(encodedRange('int8', 200, 70, 130)).toEqual({ start: 68, end: 3 * 68, firstValue: 64 });
    expect(encodedRange('int8', 200, 190, 200)).toEqual({ start: 2 * 68, end: 200 + 4 * 4, firstValue: 128 });
    expect(encodedRange('float16', 200, 70, 130)).toEqual({ start: 140, end: 260, firstValue: 70 });
  });
});

/** The bytes cut into chunks of awkward sizes, as a network stream delivers them. */
function chunked(bytes: Uint8Array, size: number): Readable {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += size) chunks.push(bytes.slice(offset, offset + size));
  return Readable.from(chunks);
}

describe('checkWeightsStream on the encoded dtypes', () => {
  const values = Float64Array.from({ length: 1_000_003 }, (_, i) => Math.sin(i) * 3);

  it.each(['float16', 'bfloat16', 'int8'] as const)('hashes %s, finds every value finite and every scale usable, however chunked', async (dtype) => {
    const bytes = encodeValues(values, dtype);
    const check = await checkWeightsStream(chunked(bytes, 99_991), dtype);
    expect(check).toEqual({ byteSize: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), firstNonFinite: null, firstTooLarge: null, firstBadScale: null });
  });

  it.each([
    ['NaN', Number.NaN, 0],
    ['+Infinity', Infinity, 7_000],
    ['-Infinity', -Infinity, 15_624],
    ['negative', -0.5, 15_625],
  ])('names the first int8 block whose scale is %s (here block %i)', async (_name, scale, block) => {
    const bytes = encodeValues(values, 'int8');
    new DataView(bytes.buffer).setFloat32(block * INT8_BLOCK_BYTES, scale, true);
    const check = await checkWeightsStream(chunked(bytes, 65_536), 'int8');
    expect(check.firstBadScale).toEqual({ block, scale });
    expect(scaleProblem(check.firstBadScale!)).toContain(`int8 block ${block} (values ${block * 64}-${block * 64 + 63})`);
  });

  it('checks the scale of the last, partial int8 block', async () => {
    const bytes = encodeValues(values, 'int8');
    const last = Math.floor((values.length - 1) / 64);
    new DataView(bytes.buffer).setFloat32(last * INT8_BLOCK_BYTES, Number.NaN, true);
    expect((await checkWeightsStream(chunked(bytes, 4_096), 'int8')).firstBadScale?.block).toBe(last);
  });

  it('finds a decoded int8 value that overflows float32 (a finite scale of 3e38 times 127)', async () => {
    const bytes = encodeValues(values, 'int8');
    const view = new DataView(bytes.buffer);
    view.setFloat32(3 * INT8_BLOCK_BYTES, 3e38, true);
    for (let k = 0; k < 64; k += 1) view.setInt8(3 * INT8_BLOCK_BYTES + 4 + k, k === 5 ? 127 : 1);
    const check = await checkWeightsStream(chunked(bytes, 1 << 20), 'int8');
    expect(check.firstBadScale).toBeNull();
    expect(check.firstNonFinite).toBe(3 * 64 + 5);
  });

  it.each([
    ['float16', 0x7c00],
    ['float16', 0x7e01],
    ['bfloat16', 0xff80],
    ['bfloat16', 0x7fc1],
  ] as [WeightsDtype, number][])('finds a %s NaN or infinity (bits %i) as a non-finite value', async (dtype, bits) => {
    const bytes = encodeValues(values, dtype);
    new DataView(bytes.buffer).setUint16(2 * 777_777, bits, true);
    expect((await checkWeightsStream(chunked(bytes, 10_007), dtype)).firstNonFinite).toBe(777_777);
  });
});
