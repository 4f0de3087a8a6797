import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { decodeValues, encodedByteSize, isNativeDtype, WEIGHTS_DTYPES, type NativeDtype, type WeightsDtype } from './encodings';
import { shapeSize, type Weights, type WeightsShape } from './weights';

export { WEIGHTS_DTYPES, type WeightsDtype } from './encodings';

/**
 * Where one set of weights lives in the object store, and what it is: everything a reader needs
 * without fetching the bytes. Update, aggregate and artifact documents hold this, never the bytes.
 */
export interface WeightsRef extends WeightsShape {
  readonly key: string;
  readonly dtype: WeightsDtype;
  readonly byteSize: number;
  /** Hex SHA-256 of the bytes. */
  readonly sha256: string;
}

/** A WeightsRef as a document field: shapes as objects, since FerretDB v1 stores no nested arrays. */
export interface StoredWeightsRef {
  readonly storage: 'object-store';
  readonly key: string;
  readonly dtype: WeightsDtype;
  readonly layout: 'vector' | 'layers';
  readonly shapes: { dims: number[] }[];
  readonly length: number;
  readonly byteSize: number;
  readonly sha256: string;
}

/** A WeightsRef, as entities carry it. */
export const WeightsRefSchema = z.object({
  key: z.string().min(1),
  dtype: z.enum(WEIGHTS_DTYPES),
  layout: z.enum(['vector', 'layers']),
  shapes: z.array(z.array(z.number().int().nonnegative()).readonly()).readonly(),
  length: z.number().int().nonnegative(),
  byteSize: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

const StoredWeightsRefSchema = z.object({
  storage: z.literal('object-store'),
  key: z.string().min(1),
  dtype: z.enum(WEIGHTS_DTYPES),
  layout: z.enum(['vector', 'layers']),
  shapes: z.array(z.object({ dims: z.array(z.number().int().nonnegative()) })),
  length: z.number().int().nonnegative(),
  byteSize: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export function toStoredWeightsRef(ref: WeightsRef): StoredWeightsRef {
  return {
    storage: 'object-store',
    key: ref.key,
    dtype: ref.dtype,
    layout: ref.layout,
    shapes: ref.shapes.map((shape) => ({ dims: [...shape] })),
    length: ref.length,
    byteSize: ref.byteSize,
    sha256: ref.sha256,
  };
}

export function fromStoredWeightsRef(stored: unknown): WeightsRef {
  const { storage: _storage, ...parsed } = StoredWeightsRefSchema.parse(stored);
  return { ...parsed, shapes: parsed.shapes.map((shape) => shape.dims) };
}

/** The shape part of stored weights (a model's expected shape is kept the same way). */
export interface StoredShape {
  layout: 'vector' | 'layers';
  shapes: { dims: number[] }[];
  length: number;
}

export function toStoredShape(shape: WeightsShape): StoredShape {
  return { layout: shape.layout, shapes: shape.shapes.map((dims) => ({ dims: [...dims] })), length: shape.length };
}

export function fromStoredShape(stored: StoredShape): WeightsShape {
  return { layout: stored.layout, shapes: stored.shapes.map((shape) => shape.dims), length: stored.length };
}

// Every platform Lambda runs on is little-endian; the DataView paths keep the format right elsewhere.
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/** The values as little-endian float64 bytes, with their SHA-256. */
export function float64Bytes(values: Float64Array): { bytes: Uint8Array; sha256: string } {
  let bytes: Uint8Array;
  if (HOST_IS_LITTLE_ENDIAN) {
    bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  } else {
    const view = new DataView(new ArrayBuffer(values.length * 8));
    values.forEach((value, i) => view.setFloat64(i * 8, value, true));
    bytes = new Uint8Array(view.buffer);
  }
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * The values stored in `bytes` as a typed array over the same memory (no copy on little-endian
 * hosts), for the dtypes stored as plain IEEE 754 values; the encoded ones (issue #26) are
 * decoded by `decodeValues`. `bytes` must start at an offset aligned to the dtype, as buffers
 * from `allocateWeightsBuffer` do.
 */
export function valuesView(bytes: Uint8Array, dtype: NativeDtype, length: number): Float32Array | Float64Array {
  return decodeValues(bytes, dtype, length);
}

/** A zeroed buffer of `byteSize` bytes, aligned for float64 views. */
export function allocateWeightsBuffer(byteSize: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(byteSize));
}

/** Weights (float64 in memory) from stored bytes of a reference. */
export function weightsFromBytes(ref: WeightsRef, bytes: Uint8Array): Weights {
  if (bytes.byteLength !== ref.byteSize || ref.byteSize !== encodedByteSize(ref.dtype, ref.length)) {
    throw new Error(`Stored weights ${ref.key} are corrupt: ${bytes.byteLength} bytes for ${ref.length} ${ref.dtype} values`);
  }
  const view = decodeValues(bytes, ref.dtype, ref.length, isNativeDtype(ref.dtype) ? undefined : new Float32Array(ref.length));
  return { layout: ref.layout, shapes: ref.shapes, values: view instanceof Float64Array ? view : Float64Array.from(view) };
}

/** The shape part of weights. */
export function shapeOfWeights(weights: Weights): WeightsShape {
  return { layout: weights.layout, shapes: weights.shapes, length: weights.values.length };
}

/** Checks that shapes and length agree (length is the product of the shapes). */
export function assertConsistentShape(shape: WeightsShape, field: string): void {
  const total = shape.shapes.reduce((sum, dims) => sum + shapeSize(dims), 0);
  if (total !== shape.length) {
    throw new ValidationError(`${field}: the shapes hold ${total} values, not ${shape.length}`, {
      details: [{ field, message: `the shapes hold ${total} values, not ${shape.length}` }],
    });
  }
}
