import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { shapeSize, type Weights, type WeightsShape } from './weights';

/** Number types weights are stored in: little-endian IEEE 754. */
export const WEIGHTS_DTYPES = ['float32', 'float64'] as const;
export type WeightsDtype = (typeof WEIGHTS_DTYPES)[number];

export const BYTES_PER_VALUE: Readonly<Record<WeightsDtype, number>> = { float32: 4, float64: 8 };

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
 * hosts). `bytes` must start at an offset aligned to the dtype, as buffers from
 * `allocateWeightsBuffer` do.
 */
export function valuesView(bytes: Uint8Array, dtype: WeightsDtype, length: number): Float32Array | Float64Array {
  if (bytes.byteLength < length * BYTES_PER_VALUE[dtype]) {
    throw new ValidationError(`${bytes.byteLength} bytes cannot hold ${length} ${dtype} values`);
  }
  // Big-endian hosts read each value through a DataView; little-endian ones view the bytes as they are.
  const view = HOST_IS_LITTLE_ENDIAN ? undefined : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Exhaustive: a dtype added to WEIGHTS_DTYPES does not compile until it is decoded here.
  switch (dtype) {
    case 'float32':
      return view === undefined
        ? new Float32Array(bytes.buffer, bytes.byteOffset, length)
        : Float32Array.from({ length }, (_, i) => view.getFloat32(i * 4, true));
    case 'float64':
      return view === undefined
        ? new Float64Array(bytes.buffer, bytes.byteOffset, length)
        : Float64Array.from({ length }, (_, i) => view.getFloat64(i * 8, true));
    default:
      return unknownDtype(dtype);
  }
}

function unknownDtype(dtype: never): never {
  throw new ValidationError(`Unknown dtype ${String(dtype)}`);
}

/** A zeroed buffer of `byteSize` bytes, aligned for float64 views. */
export function allocateWeightsBuffer(byteSize: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(byteSize));
}

/** Weights (float64 in memory) from stored bytes of a reference. */
export function weightsFromBytes(ref: WeightsRef, bytes: Uint8Array): Weights {
  if (bytes.byteLength !== ref.byteSize || ref.byteSize !== ref.length * BYTES_PER_VALUE[ref.dtype]) {
    throw new Error(`Stored weights ${ref.key} are corrupt: ${bytes.byteLength} bytes for ${ref.length} ${ref.dtype} values`);
  }
  const view = valuesView(bytes, ref.dtype, ref.length);
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
