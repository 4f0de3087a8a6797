import { randomBytes } from 'node:crypto';

/**
 * Shamir secret sharing over the prime field p = 2^521 − 1 (docs/secure-aggregation-protocol.md):
 * large enough for a 32-byte secret, and a Mersenne prime, so every language's big integers do it
 * the same way. The service only reconstructs; clients split (the SDKs).
 */
export const FIELD_PRIME = (1n << 521n) - 1n;

/** Bytes of a share on the wire: 66, big-endian (132 hex digits). */
export const SHARE_BYTES = 66;

export interface Share {
  /** The holder's participant index (1..n). */
  readonly x: number;
  readonly y: bigint;
}

/** A share's value from its wire form, or null when it is not 132 hex digits of a field element. */
export function parseShareHex(hex: string): bigint | null {
  if (!/^[0-9a-f]{132}$/.test(hex)) return null;
  const value = BigInt(`0x${hex}`);
  return value < FIELD_PRIME ? value : null;
}

export function shareToHex(y: bigint): string {
  return y.toString(16).padStart(SHARE_BYTES * 2, '0');
}

function mod(value: bigint): bigint {
  const r = value % FIELD_PRIME;
  return r < 0n ? r + FIELD_PRIME : r;
}

/** The inverse of a non-zero element (extended Euclid). */
function inverse(value: bigint): bigint {
  let [a, b, x0, x1] = [mod(value), FIELD_PRIME, 1n, 0n];
  while (b !== 0n) {
    const q = a / b;
    [a, b] = [b, a - q * b];
    [x0, x1] = [x1, x0 - q * x1];
  }
  return mod(x0);
}

/**
 * The Lagrange coefficients at 0 for these distinct indices: Σ λ_j·y_j is the secret. Computed once
 * for a set of holders and used for every secret they hold shares of.
 */
export function lagrangeAtZero(xs: readonly number[]): bigint[] {
  return xs.map((xj, j) => {
    let numerator = 1n;
    let denominator = 1n;
    xs.forEach((xk, k) => {
      if (k === j) return;
      numerator = mod(numerator * BigInt(xk));
      denominator = mod(denominator * BigInt(xk - xj));
    });
    return mod(numerator * inverse(denominator));
  });
}

/** The secret behind `shares` (their holders' coefficients given), as 32 bytes; null when it is not one. */
export function combineShares(ys: readonly bigint[], coefficients: readonly bigint[]): Buffer | null {
  let secret = 0n;
  ys.forEach((y, j) => {
    secret = mod(secret + y * coefficients[j]!);
  });
  if (secret >= 1n << 256n) return null;
  return Buffer.from(secret.toString(16).padStart(64, '0'), 'hex');
}

/** Splits a 32-byte secret into shares for the holders `xs` (threshold t); `coefficients` for tests. */
export function splitSecret(secret: Uint8Array, threshold: number, xs: readonly number[], coefficients?: readonly bigint[]): Share[] {
  const a = [BigInt(`0x${Buffer.from(secret).toString('hex')}`)];
  for (let i = 1; i < threshold; i++) a.push(coefficients?.[i - 1] ?? mod(BigInt(`0x${randomBytes(SHARE_BYTES).toString('hex')}`)));
  return xs.map((x) => {
    let y = 0n;
    for (let i = a.length - 1; i >= 0; i--) y = mod(y * BigInt(x) + a[i]!);
    return { x, y };
  });
}
