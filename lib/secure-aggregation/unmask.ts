import type { SecureRound, SecureRoundReveal } from '../entities/secure-aggregation';
import { addPrgMask } from './prg';
import { agreedKey, HKDF_INFO, x25519PublicOf } from './keys';
import { combineShares, lagrangeAtZero, parseShareHex } from './shamir';

/** Why a round's masks cannot be removed: the round fails with this as its reason. */
export class UnmaskingError extends Error {
  static {
    this.prototype.name = 'UnmaskingError';
  }
}

/** The secrets the unmasking needs, reconstructed from the revealed shares. */
export interface UnmaskingSecrets {
  /** Each masker's self-mask seed b_u. */
  readonly selfSeeds: readonly { readonly client: string; readonly seed: Buffer }[];
  /** Each dropped sharer's pairwise-mask private key s_sk_v. */
  readonly droppedKeys: readonly { readonly client: string; readonly privateKey: Buffer }[];
}

/**
 * Reconstructs, from the revealers' shares, every masker's b and every dropped sharer's s_sk, each
 * from the first `threshold` shares (by the holders' index). A dropped client's key must give back
 * the public key it advertised, so a wrong share fails the round rather than its sum.
 */
export function reconstructSecrets(round: SecureRound, revealed: readonly { client: string; reveals: readonly SecureRoundReveal[] }[]): UnmaskingSecrets {
  const index = new Map(round.participants.map((participant) => [participant.client, participant]));
  const revealers = new Set(round.revealers);
  const sharesOf = new Map<string, { x: number; y: bigint }[]>();
  for (const message of revealed) {
    if (!revealers.has(message.client)) continue; // landed after unmasking closed: not counted
    const x = index.get(message.client)!.index;
    for (const reveal of message.reveals) {
      const y = parseShareHex(reveal.share);
      if (y === null) continue;
      const key = `${reveal.kind}:${reveal.of}`;
      sharesOf.set(key, [...(sharesOf.get(key) ?? []), { x, y }]);
    }
  }
  const coefficients = new Map<string, bigint[]>();
  const t = round.options.threshold;
  const secret = (kind: 'b' | 'sk', client: string, what: string): Buffer => {
    const shares = (sharesOf.get(`${kind}:${client}`) ?? []).sort((a, b) => a.x - b.x).slice(0, t);
    if (shares.length < t) throw new UnmaskingError(`only ${shares.length} shares of ${what} of client ${client} were revealed; ${t} (the threshold) are needed`);
    const xs = shares.map((share) => share.x);
    const key = xs.join(',');
    if (!coefficients.has(key)) coefficients.set(key, lagrangeAtZero(xs));
    const value = combineShares(shares.map((share) => share.y), coefficients.get(key)!);
    if (value === null) throw new UnmaskingError(`the revealed shares of ${what} of client ${client} do not give a 32-byte secret (a revealer sent a wrong share)`);
    return value;
  };
  const maskers = new Set(round.maskers);
  const selfSeeds = round.maskers.map((client) => ({ client, seed: secret('b', client, 'the self mask') }));
  const droppedKeys = round.sharers
    .filter((client) => !maskers.has(client))
    .map((client) => {
      const privateKey = secret('sk', client, 'the pairwise-mask key');
      if (!x25519PublicOf(privateKey).equals(Buffer.from(index.get(client)!.sPublicKey, 'base64'))) {
        throw new UnmaskingError(`the revealed shares of the pairwise-mask key of client ${client} do not give the key it advertised (a revealer sent a wrong share)`);
      }
      return { client, privateKey };
    });
  return { selfSeeds, droppedKeys };
}

/**
 * Removes every mask left in the sum of the maskers' inputs: their self masks, and the pairwise
 * masks they shared with sharers that dropped out (those between two maskers cancel). Memory: the
 * sum and 1 MiB of keystream.
 */
export function removeMasks(sum: Uint32Array, round: SecureRound, secrets: UnmaskingSecrets): void {
  for (const { seed } of secrets.selfSeeds) addPrgMask(sum, seed, -1);
  const participant = new Map(round.participants.map((p) => [p.client, p]));
  for (const dropped of secrets.droppedKeys) {
    const v = participant.get(dropped.client)!;
    for (const client of round.maskers) {
      const u = participant.get(client)!;
      const seed = agreedKey(dropped.privateKey, Buffer.from(u.sPublicKey, 'base64'), round.id, HKDF_INFO.pairwiseMask);
      // u added +PRG(s_uv) when v's index is above its own, −PRG(s_uv) otherwise: take it back.
      addPrgMask(sum, seed, v.index > u.index ? -1 : 1);
    }
  }
}

/** Adds a stream of little-endian uint32 words to `sum` (chunks need not end on a word). */
export async function addWordStream(sum: Uint32Array, stream: AsyncIterable<Uint8Array>): Promise<number> {
  let word = 0;
  let carry = new Uint8Array(0);
  for await (const piece of stream) {
    let chunk = piece;
    if (carry.length > 0) {
      const joined = new Uint8Array(carry.length + chunk.length);
      joined.set(carry);
      joined.set(chunk, carry.length);
      chunk = joined;
    }
    const whole = chunk.length - (chunk.length % 4);
    if (word + whole / 4 > sum.length) throw new RangeError(`more than ${sum.length} words`);
    // A typed-array view where the chunk is aligned (the usual case; words are little-endian, as
    // this host is: os.endianness() is 'LE' on every Lambda and Node platform), else a DataView.
    if (chunk.byteOffset % 4 === 0) {
      const words = new Uint32Array(chunk.buffer, chunk.byteOffset, whole / 4);
      for (let i = 0; i < words.length; i++) sum[word + i] = (sum[word + i]! + words[i]!) >>> 0;
      word += words.length;
    } else {
      const view = new DataView(chunk.buffer, chunk.byteOffset, whole);
      for (let offset = 0; offset < whole; offset += 4) {
        sum[word] = (sum[word]! + view.getUint32(offset, true)) >>> 0;
        word += 1;
      }
    }
    carry = chunk.slice(whole);
  }
  if (carry.length > 0) throw new RangeError('the bytes do not end on a whole word');
  return word;
}
