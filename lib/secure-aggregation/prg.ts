import { createCipheriv } from 'node:crypto';

/**
 * The masks' PRG (docs/secure-aggregation-protocol.md): AES-256-CTR keyed by a 32-byte seed from a
 * zero counter block, its keystream read as little-endian uint32 words. AES-NI makes it about as
 * fast as reading the masked bytes, so unmasking costs one more pass per seed, not more.
 */
const CHUNK_WORDS = 1 << 18; // 1 MiB of keystream at a time: memory stays that, whatever the length

const ZERO_BLOCK = Buffer.alloc(16);

/** Adds `sign` × PRG(seed) to `target`, word by word, modulo 2^32. */
export function addPrgMask(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  const cipher = createCipheriv('aes-256-ctr', seed, ZERO_BLOCK);
  const zeros = Buffer.alloc(Math.min(CHUNK_WORDS, target.length) * 4);
  for (let start = 0; start < target.length; start += CHUNK_WORDS) {
    const count = Math.min(CHUNK_WORDS, target.length - start);
    const stream = cipher.update(count * 4 === zeros.length ? zeros : zeros.subarray(0, count * 4));
    const words = new Uint32Array(stream.buffer, stream.byteOffset, count);
    if (stream.byteOffset % 4 !== 0) throw new Error('unaligned keystream');
    if (sign === 1) for (let i = 0; i < count; i++) target[start + i] = (target[start + i]! + words[i]!) >>> 0;
    else for (let i = 0; i < count; i++) target[start + i] = (target[start + i]! - words[i]!) >>> 0;
  }
}

/** PRG(seed, length) itself (tests, and the interop vectors). */
export function prgWords(seed: Uint8Array, length: number): Uint32Array {
  const words = new Uint32Array(length);
  addPrgMask(words, seed, 1);
  return words;
}
