import { endianness } from 'node:os';
import { Binary } from 'mongodb';
import { z } from 'zod';
import type { Weights } from './weights';

/**
 * Weights as stored in a document: little-endian float64 bytes in a BSON Binary, with their
 * shapes. `storage` leaves room for weights too large for a 16 MiB document to move to GridFS
 * (`storage: 'gridfs'` with a file id) without touching the connector's operations, which only
 * call `encodeWeights` and `decodeWeights`.
 */
export interface StoredWeights {
  readonly storage: 'inline';
  readonly dtype: 'float64le';
  readonly layout: 'vector' | 'layers';
  /** One entry per layer (one for a vector); objects, since FerretDB v1 stores no nested arrays. */
  readonly shapes: { dims: number[] }[];
  readonly length: number;
  readonly bytes: Binary;
}

const StoredWeightsSchema = z.object({
  storage: z.literal('inline'),
  dtype: z.literal('float64le'),
  layout: z.enum(['vector', 'layers']),
  shapes: z.array(z.object({ dims: z.array(z.number().int().nonnegative()) })),
  length: z.number().int().nonnegative(),
  bytes: z.instanceof(Binary),
});

// Every platform Lambda runs on is little-endian; the DataView path keeps the format right elsewhere.
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

export function encodeWeights(weights: Weights): StoredWeights {
  let bytes: Buffer;
  if (HOST_IS_LITTLE_ENDIAN) {
    bytes = Buffer.from(weights.values.buffer, weights.values.byteOffset, weights.values.byteLength);
    bytes = Buffer.from(bytes); // a copy, so later changes to the array cannot reach the document
  } else {
    bytes = Buffer.alloc(weights.values.length * 8);
    weights.values.forEach((value, i) => bytes.writeDoubleLE(value, i * 8));
  }
  return {
    storage: 'inline',
    dtype: 'float64le',
    layout: weights.layout,
    shapes: weights.shapes.map((shape) => ({ dims: [...shape] })),
    length: weights.values.length,
    bytes: new Binary(bytes),
  };
}

export function decodeWeights(stored: unknown): Weights {
  const parsed = StoredWeightsSchema.parse(stored);
  const buffer = parsed.bytes.buffer;
  if (buffer.length !== parsed.length * 8) {
    throw new Error(`Stored weights are corrupt: ${buffer.length} bytes for ${parsed.length} float64 values`);
  }
  const values = new Float64Array(parsed.length);
  if (HOST_IS_LITTLE_ENDIAN) {
    new Uint8Array(values.buffer).set(buffer.subarray(0, parsed.length * 8));
  } else {
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    for (let i = 0; i < parsed.length; i += 1) values[i] = view.getFloat64(i * 8, true);
  }
  return { layout: parsed.layout, shapes: parsed.shapes.map((shape) => shape.dims), values };
}
