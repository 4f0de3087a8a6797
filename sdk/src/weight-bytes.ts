import { decodeValues, type WeightsDtype } from './encodings.js';

// Weights travel as little-endian float32 or float64, whatever the host's byte order.

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * By its tag rather than `instanceof`: an array made in another realm (an iframe, a worker, a
 * test runner's sandbox) has another realm's ArrayBuffer.
 */
function isArrayBuffer(buffer: ArrayBufferLike): buffer is ArrayBuffer {
  return Object.prototype.toString.call(buffer) === '[object ArrayBuffer]';
}

/**
 * The values as little-endian bytes: a view of the array itself where the host is little-endian
 * and the memory is an ordinary ArrayBuffer (fetch and Web Crypto refuse shared memory), else a copy.
 */
export function littleEndianBytes(values: Float32Array | Float64Array): Uint8Array<ArrayBuffer> {
  const buffer = values.buffer;
  if (HOST_IS_LITTLE_ENDIAN && isArrayBuffer(buffer)) return new Uint8Array(buffer, values.byteOffset, values.byteLength);
  const view = new DataView(new ArrayBuffer(values.byteLength));
  values.forEach((value, i) =>
    values instanceof Float32Array ? view.setFloat32(i * 4, value, true) : view.setFloat64(i * 8, value, true),
  );
  return new Uint8Array(view.buffer);
}

export type { WeightsDtype } from './encodings.js';

/** The values of bytes in `dtype` (float32/float64 as they are; float16, bfloat16 and int8 decoded to float32). */
export function fromLittleEndian(bytes: Uint8Array, dtype: WeightsDtype, length: number): Float32Array | Float64Array {
  const aligned = new Uint8Array(bytes); // a copy that starts at offset 0, so typed views are aligned
  const view = HOST_IS_LITTLE_ENDIAN ? undefined : new DataView(aligned.buffer);
  // Exhaustive: a dtype added to WeightsDtype does not compile until it is decoded here.
  switch (dtype) {
    case 'float16':
    case 'bfloat16':
    case 'int8':
      return decodeValues(aligned, dtype, length, new Float32Array(length));
    case 'float32':
      return view === undefined ? new Float32Array(aligned.buffer, 0, length) : Float32Array.from({ length }, (_, i) => view.getFloat32(i * 4, true));
    case 'float64':
      return view === undefined ? new Float64Array(aligned.buffer, 0, length) : Float64Array.from({ length }, (_, i) => view.getFloat64(i * 8, true));
    default:
      return unknownDtype(dtype);
  }
}

function unknownDtype(dtype: never): never {
  throw new Error(`Unknown dtype ${String(dtype)}`);
}

/** The bytes' SHA-256 in lowercase hex, by Web Crypto (Node.js 20+ and browsers alike). */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
