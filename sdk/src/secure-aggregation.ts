// The client side of secure aggregation, protocol fma-secagg/v1: docs/secure-aggregation-protocol.md
// is the exact definition, and the Python client (fma_serverless.secure_aggregation) and the
// service implement the same bytes. It is SecAgg (Bonawitz et al., CCS 2017), semi-honest, on
// the complete graph: each client masks its fixed-point update with a self mask and one pairwise
// mask per other sharer, and secret-shares the self-mask seed and its pairwise key so that the
// service can remove the masks of the clients that finished and of those that dropped out.
//
// Only Web Crypto (X25519, HKDF, AES-GCM, AES-CTR, SHA-256) and BigInt (Shamir over 2^521 - 1),
// so it runs in Node.js 20+ and browsers alike. This module imports no other module's values
// (type imports only): the tests load it straight from its TypeScript source.

import type { SecureRound, SecureRoundMember, SecureRoundStatus, Weights } from './types.js';

/** The protocol's name, the prefix of its HKDF labels. */
export const SECAGG_PROTOCOL = 'fma-secagg/v1';
/** HKDF info of the pairwise mask seeds. */
export const PAIRWISE_MASK_INFO = `${SECAGG_PROTOCOL} pairwise mask`;
/** HKDF info of the keys that encrypt shares. */
export const SHARE_ENCRYPTION_INFO = `${SECAGG_PROTOCOL} share encryption`;
/** The Shamir field's prime, 2^521 - 1 (a Mersenne prime larger than any 32-byte secret). */
export const SHAMIR_PRIME = (1n << 521n) - 1n;
/** A share's y on the wire: this many big-endian bytes, as lowercase hex. */
export const SHARE_BYTES = 66;
/**
 * The PRG makes its keystream this many words at a time, so a mask of a large model never needs
 * more than one chunk of keystream besides the vector it is added to.
 */
export const PRG_CHUNK_WORDS = 1 << 20;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const SECRET_BYTES = 32;
const NONCE_BYTES = 12;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------
// Bytes

/** A copy in an ordinary ArrayBuffer: Web Crypto refuses shared memory, and callers may pass any view. */
function ownBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** `length` bytes from the platform's CSPRNG. */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`not hex bytes: ${hex.slice(0, 40)}`);
  return Uint8Array.from({ length: hex.length / 2 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** Standard base64 with padding, without Buffer (browsers have only btoa, on binary strings). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  return Uint8Array.from({ length: binary.length }, (_, i) => binary.charCodeAt(i));
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytesToHex(bytes)}`);
}

function bigIntToBytes(value: bigint, length: number): Uint8Array<ArrayBuffer> {
  return hexToBytes(value.toString(16).padStart(2 * length, '0'));
}

/** The words as little-endian bytes (the masked input's wire format). */
export function wordsToBytes(words: Uint32Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(words.length * 4);
  if (HOST_IS_LITTLE_ENDIAN) {
    bytes.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
  } else {
    const view = new DataView(bytes.buffer);
    words.forEach((word, i) => view.setUint32(i * 4, word, true));
  }
  return bytes;
}

/** Little-endian bytes as uint32 words. */
export function bytesToWords(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`${bytes.length} bytes are not whole uint32 words`);
  const copy = ownBytes(bytes);
  if (HOST_IS_LITTLE_ENDIAN) return new Uint32Array(copy.buffer);
  const view = new DataView(copy.buffer);
  return Uint32Array.from({ length: copy.length / 4 }, (_, i) => view.getUint32(i * 4, true));
}

/** Lowercase hex SHA-256 of the bytes (the masked input's upload names it). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', ownBytes(bytes))));
}

// ---------------------------------------------------------------------------------------------
// PRG: AES-256-CTR keystream as little-endian uint32 words

/** The 16-byte big-endian counter block of the AES block that starts at byte `offset` of the stream. */
function counterBlockAt(offset: number): Uint8Array<ArrayBuffer> {
  const block = new Uint8Array(16);
  let counter = BigInt(offset / 16);
  for (let i = 15; i >= 0 && counter > 0n; i -= 1) {
    block[i] = Number(counter & 0xffn);
    counter >>= 8n;
  }
  return block;
}

/**
 * Calls `use` with the PRG's words in order, a chunk of at most `chunkWords` at a time, with the
 * index of the chunk's first word. Each chunk is encrypted with the counter block it starts at
 * (chunks are whole AES blocks), so the words are the one keystream of the protocol's PRG.
 */
export async function forEachPrgChunk(
  seed: Uint8Array,
  length: number,
  use: (words: Uint32Array, start: number) => void,
  chunkWords: number = PRG_CHUNK_WORDS,
): Promise<void> {
  if (seed.length !== SECRET_BYTES) throw new RangeError(`a PRG seed is ${SECRET_BYTES} bytes, not ${seed.length}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`a PRG length is a whole number of words, not ${length}`);
  if (!Number.isSafeInteger(chunkWords) || chunkWords <= 0 || chunkWords % 4 !== 0) throw new RangeError('PRG chunks are whole AES blocks (4 words)');
  const key = await crypto.subtle.importKey('raw', ownBytes(seed), 'AES-CTR', false, ['encrypt']);
  for (let start = 0; start < length; start += chunkWords) {
    const words = Math.min(chunkWords, length - start);
    const stream = await crypto.subtle.encrypt(
      { name: 'AES-CTR', counter: counterBlockAt(start * 4), length: 128 },
      key,
      new Uint8Array(words * 4),
    );
    use(bytesToWords(new Uint8Array(stream)), start);
  }
}

/** PRG(seed, L): the first `length` words of the AES-256-CTR keystream of `seed`, read little-endian. */
export async function prg(seed: Uint8Array, length: number, chunkWords: number = PRG_CHUNK_WORDS): Promise<Uint32Array> {
  const out = new Uint32Array(length);
  await forEachPrgChunk(seed, length, (words, start) => out.set(words, start), chunkWords);
  return out;
}

/**
 * Adds (sign +1) or subtracts (sign -1) PRG(seed, target.length) into `target`, mod 2^32 (a
 * Uint32Array store wraps by itself).
 */
export async function addPrg(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): Promise<void> {
  await forEachPrgChunk(seed, target.length, (words, start) => {
    if (sign === 1) for (let i = 0; i < words.length; i += 1) target[start + i]! += words[i]!;
    else for (let i = 0; i < words.length; i += 1) target[start + i]! -= words[i]!;
  });
}

// ---------------------------------------------------------------------------------------------
// Shamir secret sharing over GF(2^521 - 1)

/** A share: the participant's index `x` and the polynomial's value `y` there. */
export interface ShamirShare {
  readonly x: number;
  readonly y: bigint;
}

function mod(value: bigint, modulus: bigint = SHAMIR_PRIME): bigint {
  const r = value % modulus;
  return r < 0n ? r + modulus : r;
}

/** The inverse of `value` mod the prime (extended Euclid: much faster than a 521-bit power). */
function inverse(value: bigint): bigint {
  let [oldR, r] = [mod(value), SHAMIR_PRIME];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError('no inverse: the value is 0 mod p');
  return mod(oldS);
}

/** A coefficient uniform in [0, p) up to a negligible bias: 66 random bytes reduced mod p, as the protocol says. */
function randomCoefficient(): bigint {
  return mod(bytesToBigInt(randomBytes(SHARE_BYTES)));
}

/**
 * Splits a 32-byte secret with threshold `threshold` among the indices `xs`: the shares are the
 * values at each x of s + a_1·x + … + a_{t−1}·x^{t−1} mod p. `coefficients` (a_1 … a_{t−1}) are
 * random unless given (tests and vectors give them).
 */
export function shamirSplit(
  secret: Uint8Array,
  threshold: number,
  xs: readonly number[],
  coefficients?: readonly bigint[],
): ShamirShare[] {
  if (secret.length !== SECRET_BYTES) throw new RangeError(`a shared secret is ${SECRET_BYTES} bytes, not ${secret.length}`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) throw new RangeError(`threshold ${threshold} for ${xs.length} shares`);
  if (new Set(xs).size !== xs.length || xs.some((x) => !Number.isSafeInteger(x) || x < 1)) throw new RangeError('share indices are distinct positive integers');
  const a = coefficients ?? Array.from({ length: threshold - 1 }, randomCoefficient);
  if (a.length !== threshold - 1 || a.some((c) => c < 0n || c >= SHAMIR_PRIME)) throw new RangeError(`threshold ${threshold} takes ${threshold - 1} coefficients in [0, p)`);
  const polynomial = [bytesToBigInt(secret), ...a];
  return xs.map((x) => {
    // Horner, from the highest coefficient down.
    let y = 0n;
    for (let k = polynomial.length - 1; k >= 0; k -= 1) y = mod(y * BigInt(x) + polynomial[k]!);
    return { x, y };
  });
}

/** The polynomial's value at 0 from the shares (Lagrange): the secret when there are at least t of them. */
export function shamirInterpolate(shares: readonly ShamirShare[]): bigint {
  if (new Set(shares.map((share) => share.x)).size !== shares.length) throw new RangeError('two shares have the same index');
  let secret = 0n;
  for (const [j, share] of shares.entries()) {
    let numerator = 1n;
    let denominator = 1n;
    for (const [k, other] of shares.entries()) {
      if (k === j) continue;
      numerator = mod(numerator * BigInt(other.x));
      denominator = mod(denominator * BigInt(other.x - share.x));
    }
    secret = mod(secret + share.y * numerator * inverse(denominator));
  }
  return secret;
}

/**
 * The 32-byte secret from at least t shares. A value of 2^256 or more cannot be a secret (too few
 * shares, or a wrong one): a RangeError.
 */
export function shamirReconstruct(shares: readonly ShamirShare[]): Uint8Array<ArrayBuffer> {
  const secret = shamirInterpolate(shares);
  if (secret >= 1n << 256n) throw new RangeError('the shares do not give a 32-byte secret (too few, or a wrong one)');
  return bigIntToBytes(secret, SECRET_BYTES);
}

/** A share's y as on the wire: 66 big-endian bytes in lowercase hex (132 digits). */
export function shareToHex(y: bigint): string {
  if (y < 0n || y >= SHAMIR_PRIME) throw new RangeError('a share is in [0, p)');
  return y.toString(16).padStart(2 * SHARE_BYTES, '0');
}

export function shareFromHex(hex: string): bigint {
  if (!/^[0-9a-f]{132}$/.test(hex)) throw new RangeError(`a share is 132 lowercase hex digits: ${hex.slice(0, 40)}`);
  const y = BigInt(`0x${hex}`);
  if (y >= SHAMIR_PRIME) throw new RangeError('a share is in [0, p)');
  return y;
}

// ---------------------------------------------------------------------------------------------
// Fixed-point encoding

export interface FixedPointParams {
  /** c: values are clipped to [−c, c]. */
  readonly clipRange: number;
  /** The scale is 2^(bits−1) − 1. */
  readonly bits: number;
  /** w: 1, or num_examples for weighted_fedavg. */
  readonly weight: number;
}

/** S = 2^(bits−1) − 1. */
export function fixedPointScale(bits: number): number {
  if (!Number.isInteger(bits) || bits < 2 || bits > 32) throw new RangeError(`bits is an integer in [2, 32], not ${bits}`);
  return 2 ** (bits - 1) - 1;
}

/**
 * A client's update as L = m + 1 words: (w · q) mod 2^32 for each value, where
 * q = floor((clip(x, −c, c) / c) · S + 0.5) in float64 in that order (so every client rounds the
 * same way), then w itself. NaN cannot be encoded (a RangeError); ±Infinity clips.
 */
export function encodeFixedPoint(values: ArrayLike<number>, params: FixedPointParams): Uint32Array {
  const { clipRange: c, weight: w } = params;
  const scale = fixedPointScale(params.bits);
  if (!(Number.isFinite(c) && c > 0)) throw new RangeError(`clip_range is a positive number, not ${c}`);
  // w · q must be an exact integer for its residue mod 2^32 to be right.
  if (!Number.isSafeInteger(w) || w < 1 || !Number.isSafeInteger(w * scale)) throw new RangeError(`the weight is a positive integer with w · S < 2^53, not ${w}`);
  const words = new Uint32Array(values.length + 1);
  for (let i = 0; i < values.length; i += 1) {
    const x = values[i]!;
    if (Number.isNaN(x)) throw new RangeError(`value ${i} is NaN`);
    const clipped = Math.min(Math.max(x, -c), c);
    const q = Math.floor((clipped / c) * scale + 0.5);
    words[i] = w * q; // the store is ToUint32: the exact residue mod 2^32, negatives wrapped
  }
  words[values.length] = w;
  return words;
}

// ---------------------------------------------------------------------------------------------
// X25519 and HKDF

/**
 * A Web Crypto key (a `CryptoKey`), declared by its own fields: the package's declarations must
 * type-check without the DOM's or Node.js's types (test/e2e/sdk-package.test.ts), which are the
 * only ones that name `CryptoKey` or `crypto`.
 */
export interface WebCryptoKey {
  readonly type: string;
  readonly extractable: boolean;
  readonly algorithm: object;
  readonly usages: readonly string[];
}

/** The same key as Web Crypto's own declarations name it (inside this module only). */
type SubtleKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/** An X25519 key pair: the Web Crypto private key, its 32 raw bytes (shared as s_sk) and the raw public key. */
export interface X25519KeyPair {
  readonly privateKey: WebCryptoKey;
  readonly privateBytes: Uint8Array<ArrayBuffer>;
  readonly publicKey: Uint8Array<ArrayBuffer>;
}

// RFC 8410's PKCS #8 wrapping of a raw X25519 private key: Web Crypto imports private keys as
// PKCS #8 or JWK only, and the raw bytes are what the protocol shares.
const X25519_PKCS8_PREFIX = hexToBytes('302e020100300506032b656e04220420');

/**
 * An X25519 key pair from 32 private bytes (random unless given: any 32 bytes are a key, X25519
 * clamps them). The public key comes from the private key's JWK (`x`), which Web Crypto fills in.
 */
export async function x25519KeyPair(privateBytes: Uint8Array = randomBytes(SECRET_BYTES)): Promise<X25519KeyPair> {
  if (privateBytes.length !== SECRET_BYTES) throw new RangeError(`an X25519 private key is ${SECRET_BYTES} bytes, not ${privateBytes.length}`);
  const pkcs8 = new Uint8Array(X25519_PKCS8_PREFIX.length + SECRET_BYTES);
  pkcs8.set(X25519_PKCS8_PREFIX);
  pkcs8.set(privateBytes, X25519_PKCS8_PREFIX.length);
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, true, ['deriveBits']);
  const jwk = await crypto.subtle.exportKey('jwk', privateKey);
  // (a CryptoKey has every field of WebCryptoKey)
  if (jwk.x === undefined) throw new Error('this Web Crypto gave no public key for an X25519 private key');
  return { privateKey, privateBytes: ownBytes(privateBytes), publicKey: base64UrlToBytes(jwk.x) };
}

function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const standard = text.replace(/-/g, '+').replace(/_/g, '/');
  return base64ToBytes(standard.padEnd(Math.ceil(standard.length / 4) * 4, '='));
}

/** X25519(sk, pk): the 32-byte shared secret with a raw 32-byte public key. */
export async function x25519(privateKey: WebCryptoKey, publicKey: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  if (publicKey.length !== SECRET_BYTES) throw new RangeError(`an X25519 public key is ${SECRET_BYTES} bytes, not ${publicKey.length}`);
  const peer = await crypto.subtle.importKey('raw', ownBytes(publicKey), { name: 'X25519' }, false, []);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: peer }, privateKey as SubtleKey, 256));
}

/** HKDF-SHA256 with salt utf8(round_id) and info utf8(info): 32 bytes. */
export async function hkdf(ikm: Uint8Array, roundId: string, info: string): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.importKey('raw', ownBytes(ikm), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: utf8.encode(roundId), info: utf8.encode(info) }, key, 256),
  );
}

/** s_uv: the seed of u's and v's pairwise mask (the same from either side). */
export async function pairwiseSeed(sPrivateKey: WebCryptoKey, peerSPublicKey: Uint8Array, roundId: string): Promise<Uint8Array<ArrayBuffer>> {
  return hkdf(await x25519(sPrivateKey, peerSPublicKey), roundId, PAIRWISE_MASK_INFO);
}

/** k_uv: the AES-256-GCM key of the shares u sends v (and v reads from u). */
export async function shareEncryptionKey(cPrivateKey: WebCryptoKey, peerCPublicKey: Uint8Array, roundId: string): Promise<Uint8Array<ArrayBuffer>> {
  return hkdf(await x25519(cPrivateKey, peerCPublicKey), roundId, SHARE_ENCRYPTION_INFO);
}

// ---------------------------------------------------------------------------------------------
// Share encryption: AES-256-GCM, base64(nonce ‖ ciphertext ‖ tag)

/** Encrypts `plaintext` (UTF-8) with `aad` (UTF-8) as associated data; the nonce is random unless given. */
export async function aeadEncrypt(key: Uint8Array, aad: string, plaintext: string, nonce: Uint8Array = randomBytes(NONCE_BYTES)): Promise<string> {
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`an AES-GCM nonce is ${NONCE_BYTES} bytes`);
  const aesKey = await crypto.subtle.importKey('raw', ownBytes(key), 'AES-GCM', false, ['encrypt']);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: ownBytes(nonce), additionalData: utf8.encode(aad), tagLength: 128 }, aesKey, utf8.encode(plaintext)),
  );
  const out = new Uint8Array(NONCE_BYTES + sealed.length);
  out.set(nonce);
  out.set(sealed, NONCE_BYTES);
  return bytesToBase64(out);
}

/** The plaintext of a ciphertext made by `aeadEncrypt`; throws when the key, AAD or bytes are wrong. */
export async function aeadDecrypt(key: Uint8Array, aad: string, ciphertext: string): Promise<string> {
  const bytes = base64ToBytes(ciphertext);
  if (bytes.length < NONCE_BYTES + 16) throw new RangeError('a ciphertext is at least its nonce and tag');
  const aesKey = await crypto.subtle.importKey('raw', ownBytes(key), 'AES-GCM', false, ['decrypt']);
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bytes.subarray(0, NONCE_BYTES), additionalData: utf8.encode(aad), tagLength: 128 },
    aesKey,
    bytes.subarray(NONCE_BYTES),
  );
  return utf8Decoder.decode(plain);
}

/** The associated data of the shares `from` sends `to`: utf8(round_id | from | to). */
export function shareAad(roundId: string, from: string, to: string): string {
  return `${roundId}|${from}|${to}`;
}

/** What one client sends another: its shares (hex) of its self-mask seed `b` and of its `s` private key. */
export interface ShareMessage {
  readonly round: string;
  readonly from: string;
  readonly to: string;
  readonly b: string;
  readonly sk: string;
}

export function encryptShares(key: Uint8Array, message: ShareMessage, nonce?: Uint8Array): Promise<string> {
  const { round, from, to, b, sk } = message;
  return aeadEncrypt(key, shareAad(round, from, to), JSON.stringify({ round, from, to, b, sk }), nonce);
}

/**
 * Decrypts the shares `expected.from` sent `expected.to`, and checks that the message says so
 * (round, from, to) and that both shares are well-formed; throws otherwise.
 */
export async function decryptShares(key: Uint8Array, ciphertext: string, expected: { round: string; from: string; to: string }): Promise<ShareMessage> {
  const text = await aeadDecrypt(key, shareAad(expected.round, expected.from, expected.to), ciphertext);
  const message = JSON.parse(text) as Partial<Record<keyof ShareMessage, unknown>>;
  for (const field of ['round', 'from', 'to'] as const) {
    if (message[field] !== expected[field]) throw new RangeError(`the shares' ${field} is ${String(message[field])}, not ${expected[field]}`);
  }
  if (typeof message.b !== 'string' || typeof message.sk !== 'string') throw new RangeError('the shares lack b or sk');
  shareFromHex(message.b);
  shareFromHex(message.sk);
  return { round: expected.round, from: expected.from, to: expected.to, b: message.b, sk: message.sk };
}

// ---------------------------------------------------------------------------------------------
// Masking

/** Another sharer, as the masking needs it: its index and the pairwise seed with it. */
export interface MaskPeer {
  readonly index: number;
  readonly seed: Uint8Array;
}

/**
 * y = x + PRG(b) + Σ_{index_v > own} PRG(s_uv) − Σ_{index_v < own} PRG(s_uv), mod 2^32: `peers`
 * are the other sharers (U2 without this client). A new array; `encoded` is left as it is.
 */
export async function maskInput(encoded: Uint32Array, selfSeed: Uint8Array, ownIndex: number, peers: readonly MaskPeer[]): Promise<Uint32Array> {
  const masked = Uint32Array.from(encoded);
  await addPrg(masked, selfSeed, 1);
  for (const peer of peers) {
    if (peer.index === ownIndex) throw new RangeError(`a peer has this client's own index ${ownIndex}`);
    await addPrg(masked, peer.seed, peer.index > ownIndex ? 1 : -1);
  }
  return masked;
}

/**
 * The shape sent with a key advertisement: the number of values, as one vector. It opens a model's
 * first round (the round then has this shape); a model with weights keeps its own layers and
 * checks only that the count agrees.
 */
function shapesOf(values: Float32Array | Float64Array | Weights): number[][] {
  return [[flattenValues(values).length]];
}

/** The values of weights in row-major order (nested arrays, as JSON updates are sent, are flattened). */
export function flattenValues(values: Float32Array | Float64Array | Weights): ArrayLike<number> {
  if (values instanceof Float32Array || values instanceof Float64Array) return values;
  return (values as unknown[]).flat(Number.POSITIVE_INFINITY) as number[];
}

// ---------------------------------------------------------------------------------------------
// A participant: the four stages over the service's API

/** Why a secure round did not end with an aggregate for this client. */
export type SecureRoundErrorCode =
  | 'round_failed' // the service failed the round: see `failureReason`
  | 'not_participant' // advertising closed without this client
  | 'not_sharer' // sharing closed without this client's shares
  | 'not_masker' // masked input closed without this client's input
  | 'too_few_maskers' // fewer than t masked inputs: revealing would expose a client
  | 'wrong_stage' // a stage method was called while the round is in another stage
  | 'bad_shares' // shares that do not decrypt or say the wrong thing
  | 'bad_update' // values this round cannot take (length, weight)
  | 'timeout';

export class SecureRoundError extends Error {
  static {
    // A literal, not the class's own name: a minifying bundler would rename the class.
    this.prototype.name = 'SecureRoundError';
  }
  constructor(
    readonly code: SecureRoundErrorCode,
    message: string,
    /** The round as last seen. */
    readonly round?: SecureRound,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The service's reason, when it failed the round. */
  get failureReason(): string | null {
    return this.round?.failure_reason ?? null;
  }
}

/** How a participant talks to the service; `FmaClient.secureParticipant()` makes one from the client. */
export interface SecureRoundTransport {
  /** This client's UUID (its id in the round). */
  readonly clientId: string;
  /** An API call under the model's `secure_round/`, e.g. `('POST', 'keys/', body)`; throws on a non-2xx answer. */
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  /** PUTs bytes to a presigned URL with the headers the service named. */
  putBytes(url: string, headers: Record<string, string>, bytes: Uint8Array<ArrayBuffer>): Promise<void>;
}

export interface SecureWaitOptions {
  /** Between two polls of the round; 2 s by default. */
  readonly pollMs?: number;
  /** The longest one wait lasts; by default until the stage's deadline and 2 minutes more (15 minutes without one). */
  readonly timeoutMs?: number;
}

/** What the masked-input declaration answers. */
interface MaskedInputUpload {
  upload: string;
  url: string;
  headers?: Record<string, string>;
}

const DEADLINE_GRACE_MS = 120_000;
const WAIT_WITHOUT_DEADLINE_MS = 15 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One client in one secure round, one method per stage, so that a caller (or a test) controls
 * when each happens, or stops after any of them. `run()` does them all. Keys, seeds and shares
 * live only in this object.
 *
 * ```ts
 * const participant = client.secureParticipant();
 * await participant.advertise();
 * await participant.waitWhile('advertising');
 * await participant.share();
 * await participant.waitWhile('sharing');
 * await participant.maskedInput(values, numExamples);
 * await participant.waitWhile('masking');
 * await participant.reveal();
 * const round = await participant.waitForOutcome(); // status 'complete', round.aggregate
 * ```
 */
export class SecureRoundParticipant {
  private current: SecureRound | undefined;
  private cKeys: X25519KeyPair | undefined;
  private sKeys: X25519KeyPair | undefined;
  private selfSeed: Uint8Array<ArrayBuffer> | undefined;
  /** This client's shares of its own b (the one it reveals for itself). */
  private ownBShare: bigint | undefined;
  /** The shares the other sharers sent this client, by sender. */
  private readonly received = new Map<string, ShareMessage>();

  constructor(
    private readonly transport: SecureRoundTransport,
    private readonly waitOptions: SecureWaitOptions = {},
  ) {}

  /** The round as last seen, or undefined before `advertise()`. */
  get round(): SecureRound | undefined {
    return this.current;
  }

  /** Stage 1: makes this round's keys and self-mask seed, and sends the public keys (joins the open round, or opens one). */
  async advertise(shapes?: readonly (readonly number[])[]): Promise<SecureRound> {
    this.cKeys = await x25519KeyPair();
    this.sKeys = await x25519KeyPair();
    this.selfSeed = randomBytes(SECRET_BYTES);
    this.current = await this.transport.request<SecureRound>('POST', 'keys/', {
      c_public_key: bytesToBase64(this.cKeys.publicKey),
      s_public_key: bytesToBase64(this.sKeys.publicKey),
      // Needed only to open a model's first round (it has no weights yet); checked otherwise.
      ...(shapes === undefined ? {} : { shapes }),
    });
    // The service names clients by their public id, never by the credential this client sends.
    this.selfId = this.current.caller ?? undefined;
    return this.current;
  }

  /** This client's public id in the round (known once it advertised). */
  private selfId: string | undefined;

  /** The round now (and remembers it). */
  async refresh(): Promise<SecureRound> {
    const round = this.requireRound();
    this.current = await this.transport.request<SecureRound>('GET', `?round=${round.round}`);
    return this.current;
  }

  /**
   * Polls until the round is no longer in `status`, and returns it. A round that failed is a
   * SecureRoundError ('round_failed', with the service's `failureReason`); so is a wait longer
   * than the options allow ('timeout').
   */
  async waitWhile(status: SecureRoundStatus, options: SecureWaitOptions = {}): Promise<SecureRound> {
    return this.waitUntil((round) => round.status !== status, `the round to leave '${status}'`, options);
  }

  /** Polls until the round is complete (and returns it, with its `aggregate`); a failed round is a SecureRoundError. */
  async waitForOutcome(options: SecureWaitOptions = {}): Promise<SecureRound> {
    return this.waitUntil((round) => round.status === 'complete', 'the round to complete', options);
  }

  /**
   * Stage 2: Shamir-shares b and the s private key among the participants (threshold t, at their
   * indices), encrypts each other participant's pair for it, and sends them.
   */
  async share(): Promise<void> {
    const round = this.requireStage('sharing');
    const me = this.requireMember(round, 'not_participant', 'participants');
    const { cKeys, sKeys, selfSeed } = this.requireKeys();
    const xs = round.participants.map((member) => member.index);
    const at = (shares: ShamirShare[], x: number) => shareToHex(shares.find((share) => share.x === x)!.y);
    const bShares = shamirSplit(selfSeed, round.threshold, xs);
    const skShares = shamirSplit(sKeys.privateBytes, round.threshold, xs);
    this.ownBShare = bShares.find((share) => share.x === me.index)!.y;
    const shares = await Promise.all(
      round.participants
        .filter((member) => member.client !== me.client)
        .map(async (member) => ({
          to: member.client,
          ciphertext: await encryptShares(await shareEncryptionKey(cKeys.privateKey, base64ToBytes(member.c_public_key), round.id), {
            round: round.id,
            from: me.client,
            to: member.client,
            b: at(bShares, member.index),
            sk: at(skShares, member.index),
          }),
        })),
    );
    await this.transport.request('POST', 'shares/', { round: round.round, shares });
  }

  /**
   * Stage 3: reads and checks the shares sent to this client, encodes the values in fixed point
   * (weight `numExamples` when the round is weighted, else 1), masks them over the sharers and
   * uploads the words: declare (SHA-256), PUT, complete.
   */
  async maskedInput(values: Float32Array | Float64Array | Weights, numExamples?: number): Promise<void> {
    const round = this.requireStage('masking');
    const me = this.requireMember(round, 'not_sharer', 'sharers');
    const { sKeys, selfSeed } = this.requireKeys();
    const encoded = encodeFixedPoint(flattenValues(values), { clipRange: round.clip_range, bits: round.bits, weight: this.weightOf(round, numExamples) });
    if (encoded.length !== round.length + 1) {
      throw new SecureRoundError('bad_update', `the round takes ${round.length} values, not ${encoded.length - 1}`, round);
    }
    await this.receiveShares(round, me);
    const peers = await Promise.all(
      this.otherSharers(round, me).map(async (member) => ({
        index: member.index,
        seed: await pairwiseSeed(sKeys.privateKey, base64ToBytes(member.s_public_key), round.id),
      })),
    );
    const bytes = wordsToBytes(await maskInput(encoded, selfSeed, me.index, peers));
    const upload = await this.transport.request<MaskedInputUpload>('POST', 'masked_input/', { round: round.round, sha256: await sha256Hex(bytes) });
    await this.transport.putBytes(upload.url, upload.headers ?? {}, bytes);
    await this.transport.request('POST', 'masked_input/complete/', { round: round.round, upload: upload.upload });
  }

  /**
   * Stage 4: for each other sharer, its b share when it sent a masked input, else its s key
   * share (never both for one client); its own b share for itself. Refuses (too_few_maskers)
   * when fewer than t clients masked: the sum of so few could expose one of them.
   */
  async reveal(): Promise<void> {
    const round = this.requireStage('unmasking');
    const me = this.requireMember(round, 'not_masker', 'maskers');
    if (round.maskers.length < round.threshold) {
      throw new SecureRoundError('too_few_maskers', `${round.maskers.length} clients masked, fewer than the threshold ${round.threshold}`, round);
    }
    if (this.ownBShare === undefined) throw new SecureRoundError('wrong_stage', 'this participant has not shared in this round', round);
    const maskers = new Set(round.maskers);
    const shares = [{ of: me.client, kind: 'b', share: shareToHex(this.ownBShare) }];
    for (const member of this.otherSharers(round, me)) {
      const message = this.received.get(member.client);
      if (message === undefined) continue; // shares it never sent this client cannot be revealed
      shares.push(maskers.has(member.client) ? { of: member.client, kind: 'b', share: message.b } : { of: member.client, kind: 'sk', share: message.sk });
    }
    await this.transport.request('POST', 'reveal/', { round: round.round, shares });
  }

  /** All four stages and the wait for the aggregate: the round, complete; a SecureRoundError or FmaApiError otherwise. */
  async run(values: Float32Array | Float64Array | Weights, options: { numExamples?: number } & SecureWaitOptions = {}): Promise<SecureRound> {
    const wait = { pollMs: options.pollMs, timeoutMs: options.timeoutMs };
    await this.advertise(shapesOf(values));
    await this.waitWhile('advertising', wait);
    await this.share();
    await this.waitWhile('sharing', wait);
    await this.maskedInput(values, options.numExamples);
    await this.waitWhile('masking', wait);
    await this.reveal();
    return this.waitForOutcome(wait);
  }

  private async waitUntil(done: (round: SecureRound) => boolean, what: string, options: SecureWaitOptions): Promise<SecureRound> {
    const pollMs = options.pollMs ?? this.waitOptions.pollMs ?? 2_000;
    let round = this.requireRound();
    const limit = options.timeoutMs ?? this.waitOptions.timeoutMs ?? defaultWaitMs(round);
    const deadline = Date.now() + limit;
    for (;;) {
      if (round.status === 'failed') {
        throw new SecureRoundError('round_failed', `round ${round.id} failed: ${round.failure_reason ?? 'no reason given'}`, round);
      }
      if (done(round)) return round;
      if (Date.now() >= deadline) throw new SecureRoundError('timeout', `waited ${limit} ms for ${what}; it is '${round.status}'`, round);
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
      round = await this.refresh();
    }
  }

  /** The b and sk shares each other sharer sent this client, decrypted and checked; shares from non-sharers are ignored. */
  private async receiveShares(round: SecureRound, me: SecureRoundMember): Promise<void> {
    const { cKeys } = this.requireKeys();
    const answer = await this.transport.request<{ shares: { from: string; ciphertext: string }[] }>('GET', `shares/?round=${round.round}`);
    const sharers = new Map(this.otherSharers(round, me).map((member) => [member.client, member]));
    this.received.clear();
    for (const { from, ciphertext } of answer.shares) {
      const sender = sharers.get(from);
      if (sender === undefined) continue;
      try {
        const key = await shareEncryptionKey(cKeys.privateKey, base64ToBytes(sender.c_public_key), round.id);
        this.received.set(from, await decryptShares(key, ciphertext, { round: round.id, from, to: me.client }));
      } catch (error) {
        throw new SecureRoundError('bad_shares', `the shares from ${from} do not decrypt or check: ${String(error)}`, round, { cause: error });
      }
    }
  }

  private otherSharers(round: SecureRound, me: SecureRoundMember): SecureRoundMember[] {
    const sharers = new Set(round.sharers);
    return round.participants.filter((member) => member.client !== me.client && sharers.has(member.client));
  }

  private weightOf(round: SecureRound, numExamples: number | undefined): number {
    if (!round.weighted) return 1;
    if (numExamples === undefined || !Number.isInteger(numExamples) || numExamples < 1 || numExamples > round.max_weight) {
      throw new SecureRoundError('bad_update', `a weighted round takes numExamples, an integer in [1, ${round.max_weight}]; got ${numExamples}`, round);
    }
    return numExamples;
  }

  private requireRound(): SecureRound {
    if (this.current === undefined) throw new SecureRoundError('wrong_stage', 'advertise() first');
    return this.current;
  }

  private requireStage(status: SecureRoundStatus): SecureRound {
    const round = this.requireRound();
    if (round.status === 'failed') throw new SecureRoundError('round_failed', `round ${round.id} failed: ${round.failure_reason ?? 'no reason given'}`, round);
    if (round.status !== status) throw new SecureRoundError('wrong_stage', `the round is '${round.status}', not '${status}' (wait for it first)`, round);
    return round;
  }

  /** This client's entry among the participants, when it is in the round's list `list`; else a SecureRoundError. */
  private requireMember(round: SecureRound, code: SecureRoundErrorCode, list: 'participants' | 'sharers' | 'maskers'): SecureRoundMember {
    const self = this.selfId;
    const me = round.participants.find((member) => member.client === self);
    const inList = list === 'participants' ? me !== undefined : self !== undefined && round[list].includes(self);
    if (me === undefined || !inList) throw new SecureRoundError(code, `this client is not in round ${round.id}'s ${list}`, round);
    return me;
  }

  private requireKeys(): { cKeys: X25519KeyPair; sKeys: X25519KeyPair; selfSeed: Uint8Array<ArrayBuffer> } {
    const { cKeys, sKeys, selfSeed } = this;
    if (cKeys === undefined || sKeys === undefined || selfSeed === undefined) throw new SecureRoundError('wrong_stage', 'advertise() first');
    return { cKeys, sKeys, selfSeed };
  }
}

function defaultWaitMs(round: SecureRound): number {
  const deadline = round.stage_deadline === null || round.stage_deadline === undefined ? Number.NaN : Date.parse(round.stage_deadline);
  return Number.isFinite(deadline) ? Math.max(0, deadline - Date.now()) + DEADLINE_GRACE_MS : WAIT_WITHOUT_DEADLINE_MS;
}
