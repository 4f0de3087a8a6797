import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';

/** What the pairwise masks' seeds and the shares' keys are derived for (HKDF info). */
export const HKDF_INFO = {
  pairwiseMask: 'fma-secagg/v1 pairwise mask',
  shareEncryption: 'fma-secagg/v1 share encryption',
} as const;

// DER headers of X25519 keys (RFC 8410): raw 32-byte keys in and out of Node's KeyObjects.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw public key of a raw private key (a reconstructed key is checked against the advertised one). */
export function x25519PublicOf(privateRaw: Uint8Array): Buffer {
  return createPublicKey(x25519PrivateKey(privateRaw)).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** HKDF-SHA256(X25519(private, public)), salt the round id: 32 bytes. */
export function agreedKey(privateRaw: Uint8Array, publicRaw: Uint8Array, roundId: string, info: string): Buffer {
  const shared = diffieHellman({ privateKey: x25519PrivateKey(privateRaw), publicKey: x25519PublicKey(publicRaw) });
  return Buffer.from(hkdfSync('sha256', shared, Buffer.from(roundId, 'utf8'), Buffer.from(info, 'utf8'), 32));
}

/** A base64 X25519 public key as 32 raw bytes, or null when it is not one. */
export function parsePublicKey(base64: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(base64)) return null;
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32) return null;
  try {
    x25519PublicKey(raw);
  } catch {
    return null;
  }
  return raw;
}
