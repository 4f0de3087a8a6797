// The TypeScript SDK's side of secure aggregation (fma-secagg/v1, docs/secure-aggregation-protocol.md):
// its primitives against node:crypto and by their definitions, the interop vectors (its own and,
// when present, the Python client's), and whole rounds of SecureRoundParticipants against an
// in-memory service whose unmasking is the reference below.
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  aeadDecrypt,
  aeadEncrypt,
  addPrg,
  decryptShares,
  encodeFixedPoint,
  encryptShares,
  fixedPointScale,
  hexToBytes,
  bytesToHex,
  hkdf,
  maskInput,
  PAIRWISE_MASK_INFO,
  pairwiseSeed,
  prg,
  randomBytes,
  SecureRoundError,
  SecureRoundParticipant,
  type SecureRoundTransport,
  SHAMIR_PRIME,
  shamirInterpolate,
  shamirReconstruct,
  shamirSplit,
  shareAad,
  SHARE_ENCRYPTION_INFO,
  shareEncryptionKey,
  shareFromHex,
  shareToHex,
  x25519,
  x25519KeyPair,
  bytesToWords,
  base64ToBytes,
} from '../../sdk/src/secure-aggregation';
import type { SecureRound, SecureRoundMember } from '../../sdk/src/types';

const TWO_32 = 2 ** 32;

// ---------------------------------------------------------------------------------------------
// The reference unmasking (the service's job; here to check what the clients send)

interface RevealedShare {
  of: string;
  kind: 'b' | 'sk';
  share: string;
}

/**
 * Σ_{u∈U3} x_u mod 2^32 from the masked inputs and the revealed shares, as the protocol's
 * "Unmasking (the service)" says: each masker's b from t shares of kind b, each dropout's s key
 * from t shares of kind sk, then the masks removed.
 */
async function unmaskSum(round: SecureRound, masked: ReadonlyMap<string, Uint32Array>, revealed: ReadonlyMap<string, RevealedShare[]>): Promise<Uint32Array> {
  const byClient = new Map(round.participants.map((member) => [member.client, member]));
  const secretOf = (client: string, kind: 'b' | 'sk'): Uint8Array => {
    const shares = [...revealed.entries()].flatMap(([revealer, list]) =>
      list.filter((share) => share.of === client && share.kind === kind).map((share) => ({ x: byClient.get(revealer)!.index, y: shareFromHex(share.share) })),
    );
    if (shares.length < round.threshold) throw new Error(`only ${shares.length} ${kind} shares of ${client}`);
    return shamirReconstruct(shares.slice(0, round.threshold));
  };
  const sum = new Uint32Array(round.length + 1);
  for (const u of round.maskers) {
    const y = masked.get(u)!;
    for (let i = 0; i < sum.length; i += 1) sum[i]! += y[i]!;
    await addPrg(sum, secretOf(u, 'b'), -1);
  }
  for (const v of round.sharers.filter((client) => !round.maskers.includes(client))) {
    const dropout = await x25519KeyPair(secretOf(v, 'sk'));
    for (const u of round.maskers) {
      const seed = await pairwiseSeed(dropout.privateKey, base64ToBytes(byClient.get(u)!.s_public_key), round.id);
      // u added +PRG(s_uv) when v's index is above its own, −PRG(s_uv) when below: take it off.
      await addPrg(sum, seed, byClient.get(v)!.index > byClient.get(u)!.index ? -1 : 1);
    }
  }
  return sum;
}

/** A word as the signed 32-bit integer the service reads it as. */
const signed = (word: number) => (word >= 2 ** 31 ? word - TWO_32 : word);

/** Σ words mod 2^32, element by element. */
function sumWords(vectors: readonly Uint32Array[]): Uint32Array {
  const sum = new Uint32Array(vectors[0]!.length);
  for (const vector of vectors) vector.forEach((word, i) => (sum[i]! += word));
  return sum;
}

// ---------------------------------------------------------------------------------------------
// An in-memory service: the HTTP API's stages, closed when every expected client answered or
// when the test calls close() (its stage deadline).

class FakeSecureService {
  round: SecureRound;
  readonly masked = new Map<string, Uint32Array>();
  readonly revealed = new Map<string, RevealedShare[]>();
  /** The unmasked sum, once the round is complete. */
  sum: Uint32Array | undefined;
  private readonly keys = new Map<string, { c: string; s: string }>();
  private readonly shares = new Map<string, { from: string; to: string; ciphertext: string }[]>();
  private readonly uploads = new Map<string, { client: string; sha256: string; bytes?: Uint8Array }>();

  constructor(
    private readonly modelClients: readonly string[],
    settings: Partial<SecureRound> & { length: number },
  ) {
    this.round = {
      round: 2,
      id: '7:2',
      federated_model: 7,
      status: 'advertising',
      stage_deadline: new Date(Date.now() + 60_000).toISOString(),
      threshold: 3,
      clip_range: 1,
      bits: 16,
      max_weight: 1,
      weighted: false,
      shapes: [[settings.length]],
      layout: 'vector',
      participants: [],
      sharers: [],
      maskers: [],
      revealers: [],
      aggregate: null,
      caller: null,
      failure_reason: null,
      ...settings,
    };
  }

  transport(clientId: string): SecureRoundTransport {
    return {
      clientId,
      request: async <T>(method: 'GET' | 'POST', path: string, body?: unknown) => {
        const answer = structuredClone(await this.handle(clientId, method, path, body)) as Record<string, unknown>;
        // As the service does: a round names its caller by the client's public id.
        return ('status' in answer ? { ...answer, caller: clientId } : answer) as T;
      },
      putBytes: async (url, headers, bytes) => {
        expect(headers['content-type']).toBe('application/octet-stream');
        this.uploads.get(url.replace('fake://upload/', ''))!.bytes = Uint8Array.from(bytes);
      },
    };
  }

  /** The stage's deadline: closes it with the clients that answered. */
  async close(): Promise<void> {
    const { status } = this.round;
    if (status === 'advertising') this.closeAdvertising();
    else if (status === 'sharing') this.closeStage('sharers', [...this.shares.keys()], 'masking');
    else if (status === 'masking') this.closeStage('maskers', [...this.masked.keys()], 'unmasking');
    else if (status === 'unmasking') {
      this.closeStage('revealers', [...this.revealed.keys()], 'summing');
      if (this.round.status === 'summing') this.sum = await unmaskSum(this.round, this.masked, this.revealed);
    }
  }

  private async handle(client: string, method: string, path: string, body: any): Promise<unknown> {
    const route = `${method} ${path.replace(/\?.*$/, '')}`;
    const refuse = (why: string) => {
      throw new Error(`409 ${route}: ${why}`);
    };
    if (route !== 'POST keys/' && route !== 'GET ' && body !== undefined && body.round !== this.round.round) refuse('not this round');
    const inStage = (status: SecureRound['status']) => this.round.status === status || refuse(`the round is ${this.round.status}`);
    switch (route) {
      case 'GET ':
        if (this.round.status === 'summing') {
          this.round.status = 'complete';
          this.round.aggregate = 41;
        }
        return this.round;
      case 'POST keys/':
        inStage('advertising');
        if (this.keys.has(client)) refuse('keys twice');
        this.keys.set(client, { c: body.c_public_key, s: body.s_public_key });
        if (this.keys.size === this.modelClients.length) await this.close();
        return this.round;
      case 'POST shares/': {
        inStage('sharing');
        if (this.shares.has(client)) refuse('shares twice');
        const others = this.round.participants.filter((member) => member.client !== client).map((member) => member.client);
        expect(body.shares.map((share: { to: string }) => share.to).sort()).toEqual(others.sort());
        this.shares.set(client, body.shares.map((share: { to: string; ciphertext: string }) => ({ from: client, ...share })));
        if (this.shares.size === this.round.participants.length) await this.close();
        return {};
      }
      case 'GET shares/':
        if (!['masking', 'unmasking'].includes(this.round.status)) refuse('shares are read while masking');
        return {
          round: this.round.round,
          shares: [...this.shares.values()].flat().filter((share) => share.to === client).map(({ from, ciphertext }) => ({ from, ciphertext })),
        };
      case 'POST masked_input/': {
        inStage('masking');
        const upload = `upload-${client}`;
        this.uploads.set(upload, { client, sha256: body.sha256 });
        const byteSize = 4 * (this.round.length + 1);
        return { upload, method: 'PUT', url: `fake://upload/${upload}`, headers: { 'content-type': 'application/octet-stream' }, byte_size: byteSize, complete: 'masked_input/complete/' };
      }
      case 'POST masked_input/complete/': {
        inStage('masking');
        const upload = this.uploads.get(body.upload)!;
        const bytes = upload.bytes!;
        expect(bytes.length).toBe(4 * (this.round.length + 1));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(upload.sha256);
        this.masked.set(client, bytesToWords(bytes));
        if (this.masked.size === this.round.sharers.length) await this.close();
        return {};
      }
      case 'POST reveal/':
        inStage('unmasking');
        if (this.revealed.has(client)) refuse('reveal twice');
        this.revealed.set(client, body.shares);
        if (this.revealed.size === this.round.maskers.length) await this.close();
        return {};
      default:
        throw new Error(`404 ${route}`);
    }
  }

  private closeAdvertising(): void {
    const clients = [...this.keys.keys()].sort();
    this.round.participants = clients.map((client, i) => ({ client, index: i + 1, c_public_key: this.keys.get(client)!.c, s_public_key: this.keys.get(client)!.s }));
    this.round.status = clients.length < this.round.threshold ? 'failed' : 'sharing';
  }

  private closeStage(list: 'sharers' | 'maskers' | 'revealers', answered: string[], next: SecureRound['status']): void {
    this.round[list] = answered.sort();
    if (answered.length < this.round.threshold) {
      this.round.status = 'failed';
      this.round.failure_reason = `only ${answered.length} ${list}`;
    } else {
      this.round.status = next;
    }
  }
}

/** Values in [−1.5, 1.5): some clip at c = 1. */
const someValues = (length: number) => Float64Array.from({ length }, () => Math.random() * 3 - 1.5);

// ---------------------------------------------------------------------------------------------

describe('PRG: AES-256-CTR keystream as little-endian uint32 words', () => {
  const openssl = (seed: Uint8Array, words: number) => {
    const stream = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(4 * words));
    return Array.from({ length: words }, (_, i) => stream.readUInt32LE(4 * i));
  };

  it('is OpenSSL\'s aes-256-ctr over zero bytes, across chunks of any size', async () => {
    const seed = randomBytes(32);
    expect(Array.from(await prg(seed, 5_003, 1_024))).toEqual(openssl(seed, 5_003));
    expect(Array.from(await prg(seed, 100, 4))).toEqual(openssl(seed, 100));
    expect(Array.from(await prg(seed, 0))).toEqual([]);
  });

  it('spans the default 1 Mi-word chunks with the counter advanced per chunk', async () => {
    const seed = randomBytes(32);
    const words = (1 << 21) + 123;
    const ours = await prg(seed, words);
    const theirs = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(4 * words));
    expect(Buffer.from(ours.buffer).equals(theirs)).toBe(true);
  });

  it('adds and subtracts mod 2^32', async () => {
    const seed = randomBytes(32);
    const target = Uint32Array.from({ length: 9 }, (_, i) => (i * 0x9e3779b9) >>> 0);
    const stream = await prg(seed, 9);
    const copy = Uint32Array.from(target);
    await addPrg(copy, seed, 1);
    expect(Array.from(copy)).toEqual(Array.from(target, (word, i) => (word + stream[i]!) % TWO_32));
    await addPrg(copy, seed, -1);
    expect(copy).toEqual(target);
  });

  it('refuses a seed that is not 32 bytes', async () => {
    await expect(prg(new Uint8Array(16), 4)).rejects.toThrow(RangeError);
  });
});

describe('Shamir secret sharing over 2^521 − 1', () => {
  const subsets = <T>(items: readonly T[], size: number): T[][] =>
    size === 0 ? [[]] : items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));

  it('any t of n shares give the secret back; fewer give another value', () => {
    const secret = randomBytes(32);
    const shares = shamirSplit(secret, 3, [1, 2, 3, 4, 5]);
    for (const chosen of [...subsets(shares, 3), ...subsets(shares, 4), shares]) expect(shamirReconstruct(chosen)).toEqual(secret);
    const value = BigInt(`0x${bytesToHex(secret)}`);
    for (const chosen of subsets(shares, 2)) expect(shamirInterpolate(chosen)).not.toBe(value);
  });

  it('evaluates s + a1·x + a2·x² mod p with fixed coefficients, and takes the largest secret', () => {
    const secret = new Uint8Array(32).fill(0xff);
    const coefficients = [SHAMIR_PRIME - 1n, 12_345n];
    const s = (1n << 256n) - 1n;
    const shares = shamirSplit(secret, 3, [1, 7, 9], coefficients);
    for (const { x, y } of shares) expect(y).toBe((s + coefficients[0]! * BigInt(x) + coefficients[1]! * BigInt(x) ** 2n) % SHAMIR_PRIME);
    expect(shamirReconstruct(shares)).toEqual(secret);
    // t = 1: every share is the secret itself.
    expect(shamirSplit(secret, 1, [4, 5]).map((share) => share.y)).toEqual([s, s]);
  });

  it('writes a share as 132 lowercase hex digits and reads it back; refuses malformed ones', () => {
    const y = SHAMIR_PRIME - 5n;
    const hex = shareToHex(y);
    expect(hex).toMatch(/^01f{129}a$/);
    expect(shareFromHex(hex)).toBe(y);
    expect(shareToHex(7n)).toBe(`${'0'.repeat(131)}7`);
    expect(() => shareFromHex(hex.toUpperCase())).toThrow(RangeError);
    expect(() => shareFromHex(hex.slice(2))).toThrow(RangeError);
    expect(() => shareFromHex(shareToHex(SHAMIR_PRIME - 1n).replace(/e$/, 'f'))).toThrow(RangeError); // p itself
  });

  it('refuses wrong thresholds, indices and coefficients', () => {
    expect(() => shamirSplit(randomBytes(32), 4, [1, 2, 3])).toThrow(RangeError);
    expect(() => shamirSplit(randomBytes(32), 2, [1, 1])).toThrow(RangeError);
    expect(() => shamirSplit(randomBytes(32), 2, [0, 1])).toThrow(RangeError);
    expect(() => shamirSplit(randomBytes(32), 3, [1, 2, 3], [1n])).toThrow(RangeError);
    expect(() => shamirSplit(randomBytes(31), 2, [1, 2])).toThrow(RangeError);
  });
});

describe('fixed-point encoding', () => {
  it('clips to [−c, c], scales by S = 2^(bits−1) − 1 and rounds half up, the weight last', () => {
    expect(fixedPointScale(16)).toBe(32_767);
    const words = encodeFixedPoint([0.5, -0.25, 2, -3, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0], { clipRange: 1, bits: 16, weight: 1 });
    expect(Array.from(words, signed)).toEqual([16_384, -8_192, 32_767, -32_767, 32_767, -32_767, 0, 0, 1]);
    // S = 3: ±0.5 is q·S = ±1.5, which rounds up (floor(x + 0.5)) both ways: 2 and −1.
    expect(Array.from(encodeFixedPoint([0.5, -0.5, 1 / 6, -1 / 6], { clipRange: 1, bits: 3, weight: 1 }), signed)).toEqual([2, -1, 1, 0, 1]);
    // c = 2: x / c first.
    expect(Array.from(encodeFixedPoint([1, -5], { clipRange: 2, bits: 16, weight: 1 }), signed)).toEqual([16_384, -32_767, 1]);
  });

  it('multiplies by the weight and wraps negatives mod 2^32', () => {
    const words = encodeFixedPoint(Float32Array.of(-1, -1e-9, 0.1234), { clipRange: 1, bits: 16, weight: 3 });
    expect(Array.from(words)).toEqual([TWO_32 - 98_301, 0, 12_129, 3]);
    const heavy = encodeFixedPoint([-1], { clipRange: 1, bits: 32, weight: 1_000 });
    expect(heavy[0]).toBe(((-(2 ** 31 - 1) * 1_000) % TWO_32) + TWO_32);
  });

  it('refuses NaN, a non-integer weight and a non-positive clip range', () => {
    expect(() => encodeFixedPoint([Number.NaN], { clipRange: 1, bits: 16, weight: 1 })).toThrow(RangeError);
    expect(() => encodeFixedPoint([0], { clipRange: 1, bits: 16, weight: 1.5 })).toThrow(RangeError);
    expect(() => encodeFixedPoint([0], { clipRange: 1, bits: 16, weight: 0 })).toThrow(RangeError);
    expect(() => encodeFixedPoint([0], { clipRange: 0, bits: 16, weight: 1 })).toThrow(RangeError);
    expect(() => encodeFixedPoint([0], { clipRange: 1, bits: 33, weight: 1 })).toThrow(RangeError);
  });
});

describe('X25519, HKDF and share encryption', () => {
  it('agrees the same secret and keys from both sides, and an HKDF salted by the round id', async () => {
    const [a, b] = await Promise.all([x25519KeyPair(), x25519KeyPair()]);
    expect(a.publicKey).toHaveLength(32);
    expect(await x25519(a.privateKey, b.publicKey)).toEqual(await x25519(b.privateKey, a.publicKey));
    expect(await pairwiseSeed(a.privateKey, b.publicKey, '1:1')).toEqual(await pairwiseSeed(b.privateKey, a.publicKey, '1:1'));
    expect(await pairwiseSeed(a.privateKey, b.publicKey, '1:1')).not.toEqual(await pairwiseSeed(a.privateKey, b.publicKey, '1:2'));
    expect(await shareEncryptionKey(a.privateKey, b.publicKey, '1:1')).not.toEqual(await pairwiseSeed(a.privateKey, b.publicKey, '1:1'));
  });

  it('round-trips shares; a wrong AAD, recipient key, or message fails', async () => {
    const [cu, cv, cw] = await Promise.all([x25519KeyPair(), x25519KeyPair(), x25519KeyPair()]);
    const key = await shareEncryptionKey(cu.privateKey, cv.publicKey, '3:1');
    const message = { round: '3:1', from: 'u', to: 'v', b: shareToHex(123n), sk: shareToHex(SHAMIR_PRIME - 1n) };
    const ciphertext = await encryptShares(key, message);
    expect(base64ToBytes(ciphertext)).toHaveLength(12 + JSON.stringify(message).length + 16);

    const readKey = await shareEncryptionKey(cv.privateKey, cu.publicKey, '3:1');
    expect(await decryptShares(readKey, ciphertext, { round: '3:1', from: 'u', to: 'v' })).toEqual(message);
    // The AAD names round, sender and recipient: any other is refused by the tag.
    await expect(decryptShares(readKey, ciphertext, { round: '3:1', from: 'u', to: 'w' })).rejects.toThrow();
    await expect(decryptShares(readKey, ciphertext, { round: '3:2', from: 'u', to: 'v' })).rejects.toThrow();
    await expect(aeadDecrypt(readKey, shareAad('3:1', 'v', 'u'), ciphertext)).rejects.toThrow();
    // Another recipient's key.
    const otherKey = await shareEncryptionKey(cw.privateKey, cu.publicKey, '3:1');
    await expect(decryptShares(otherKey, ciphertext, { round: '3:1', from: 'u', to: 'v' })).rejects.toThrow();
    // A tampered byte.
    const tampered = base64ToBytes(ciphertext);
    tampered[20]! ^= 1;
    await expect(decryptShares(readKey, Buffer.from(tampered).toString('base64'), { round: '3:1', from: 'u', to: 'v' })).rejects.toThrow();
    // The right AAD around a message that says another recipient, or a malformed share.
    const lying = await aeadEncrypt(key, shareAad('3:1', 'u', 'v'), JSON.stringify({ ...message, to: 'w' }));
    await expect(decryptShares(readKey, lying, { round: '3:1', from: 'u', to: 'v' })).rejects.toThrow(/to is w/);
    const malformed = await aeadEncrypt(key, shareAad('3:1', 'u', 'v'), JSON.stringify({ ...message, b: 'zz' }));
    await expect(decryptShares(readKey, malformed, { round: '3:1', from: 'u', to: 'v' })).rejects.toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------

interface Vectors {
  round_id: string;
  prg: { seed_hex: string; words: number[] };
  x25519: Record<'a_private_hex' | 'a_public_hex' | 'b_private_hex' | 'b_public_hex' | 'shared_hex' | 'pairwise_seed_hex' | 'share_key_hex', string>;
  shamir: { secret_hex: string; threshold: number; coefficients_hex: string[]; shares: { x: number; y_hex: string }[] };
  fixed_point: { values: number[]; clip_range: number; bits: number; weight: number; words: number[] };
  aead: { key_hex: string; nonce_hex: string; aad: string; plaintext: string; ciphertext_b64: string };
  round: {
    clients: { id: string; index: number; s_private_hex: string; b_seed_hex: string; values: number[] }[];
    clip_range: number;
    bits: number;
    weight: number;
    masked_words: number[][];
  };
}

const root = join(__dirname, '../..');
const vectorFiles = [
  ['the SDK\'s own', join(root, 'test/fixtures/secure-aggregation/vectors-ts.json')],
  ['the Python client\'s', join(root, 'clients/python/tests/fixtures/secure-aggregation-vectors-py.json')],
].filter(([, path]) => existsSync(path!)) as [string, string][];

describe.each(vectorFiles)('%s interop vectors', (_name, path) => {
  const v = JSON.parse(readFileSync(path, 'utf8')) as Vectors;

  it('PRG', async () => {
    expect(Array.from(await prg(hexToBytes(v.prg.seed_hex), v.prg.words.length))).toEqual(v.prg.words);
  });

  it('X25519 public keys, shared secret, pairwise seed and share key', async () => {
    const a = await x25519KeyPair(hexToBytes(v.x25519.a_private_hex));
    const b = await x25519KeyPair(hexToBytes(v.x25519.b_private_hex));
    expect(bytesToHex(a.publicKey)).toBe(v.x25519.a_public_hex);
    expect(bytesToHex(b.publicKey)).toBe(v.x25519.b_public_hex);
    const shared = await x25519(a.privateKey, b.publicKey);
    expect(bytesToHex(shared)).toBe(v.x25519.shared_hex);
    expect(bytesToHex(await hkdf(shared, v.round_id, PAIRWISE_MASK_INFO))).toBe(v.x25519.pairwise_seed_hex);
    expect(bytesToHex(await hkdf(shared, v.round_id, SHARE_ENCRYPTION_INFO))).toBe(v.x25519.share_key_hex);
    expect(bytesToHex(await pairwiseSeed(b.privateKey, a.publicKey, v.round_id))).toBe(v.x25519.pairwise_seed_hex);
    expect(bytesToHex(await shareEncryptionKey(b.privateKey, a.publicKey, v.round_id))).toBe(v.x25519.share_key_hex);
  });

  it('Shamir shares, and the secret back from any three', () => {
    const { secret_hex, threshold, coefficients_hex, shares } = v.shamir;
    const ours = shamirSplit(hexToBytes(secret_hex), threshold, shares.map((share) => share.x), coefficients_hex.map((hex) => BigInt(`0x${hex}`)));
    expect(ours.map((share) => ({ x: share.x, y_hex: shareToHex(share.y) }))).toEqual(shares);
    const theirs = shares.map((share) => ({ x: share.x, y: shareFromHex(share.y_hex) }));
    expect(bytesToHex(shamirReconstruct(theirs.slice(-threshold)))).toBe(secret_hex);
    expect(bytesToHex(shamirReconstruct([theirs[0]!, theirs[2]!, theirs[4]!]))).toBe(secret_hex);
  });

  it('fixed point', () => {
    const { values, clip_range, bits, weight, words } = v.fixed_point;
    expect(Array.from(encodeFixedPoint(values, { clipRange: clip_range, bits, weight }))).toEqual(words);
  });

  it('AES-GCM share ciphertext', async () => {
    const { key_hex, nonce_hex, aad, plaintext, ciphertext_b64 } = v.aead;
    expect(await aeadEncrypt(hexToBytes(key_hex), aad, plaintext, hexToBytes(nonce_hex))).toBe(ciphertext_b64);
    expect(await aeadDecrypt(hexToBytes(key_hex), aad, ciphertext_b64)).toBe(plaintext);
  });

  it('a 3-client masked round, word by word, whose masks cancel in the sum', async () => {
    const { clients, clip_range, bits, weight, masked_words } = v.round;
    const keys = await Promise.all(clients.map((client) => x25519KeyPair(hexToBytes(client.s_private_hex))));
    const encoded = clients.map((client) => encodeFixedPoint(client.values, { clipRange: clip_range, bits, weight }));
    const length = encoded[0]!.length;
    for (const [u, client] of clients.entries()) {
      // The definition, term by term with plain numbers: x + PRG(b) ± PRG(s_uv).
      const expected = Array.from(encoded[u]!);
      const add = (words: Uint32Array, sign: number) => words.forEach((word, i) => (expected[i] = (((expected[i]! + sign * word) % TWO_32) + TWO_32) % TWO_32));
      add(await prg(hexToBytes(client.b_seed_hex), length), 1);
      for (const [w, other] of clients.entries()) {
        if (w === u) continue;
        const seed = await hkdf(await x25519(keys[u]!.privateKey, keys[w]!.publicKey), v.round_id, PAIRWISE_MASK_INFO);
        add(await prg(seed, length), other.index > client.index ? 1 : -1);
      }
      expect(expected).toEqual(masked_words[u]);
    }
    const unmasked = sumWords(masked_words.map((words) => Uint32Array.from(words)));
    for (const client of clients) await addPrg(unmasked, hexToBytes(client.b_seed_hex), -1);
    expect(unmasked).toEqual(sumWords(encoded));
  });
});

// ---------------------------------------------------------------------------------------------

describe('whole rounds of SecureRoundParticipants against an in-memory service', () => {
  const ids = ['client-1', 'client-2', 'client-3', 'client-4', 'client-5'];

  it('5 clients, one drops after sharing, one after masking: the sum is exactly that of the 4 encoded updates', async () => {
    const service = new FakeSecureService(ids, { length: 1_000, threshold: 3 });
    const participants = ids.map((id) => new SecureRoundParticipant(service.transport(id), { pollMs: 1 }));
    const values = ids.map(() => someValues(1_000));
    const [p1, p2, p3, p4, p5] = participants as [SecureRoundParticipant, SecureRoundParticipant, SecureRoundParticipant, SecureRoundParticipant, SecureRoundParticipant];

    await Promise.all(participants.map((p) => p.advertise()));
    await Promise.all(participants.map((p) => p.waitWhile('advertising')));
    expect(service.round.participants.map((member: SecureRoundMember) => member.index)).toEqual([1, 2, 3, 4, 5]);
    await Promise.all(participants.map((p) => p.share()));
    await Promise.all(participants.map((p) => p.waitWhile('sharing')));
    expect(service.round.sharers).toEqual(ids);

    // client-5 drops out after sharing: the others mask, the stage closes at its deadline.
    await Promise.all([p1, p2, p3, p4].map((p, i) => p.maskedInput(values[i]!)));
    await service.close();
    for (const p of [p1, p2, p3, p4]) await p.waitWhile('masking');
    expect(service.round.maskers).toEqual(ids.slice(0, 4));
    await expect(p5.maskedInput(values[4]!)).rejects.toThrow(/409 POST masked_input\/: the round is unmasking/); // too late

    // client-4 drops out after masking: three reveal, which is the threshold.
    await Promise.all([p1, p2, p3].map((p) => p.reveal()));
    await service.close();
    const outcomes = await Promise.all([p1, p2, p3].map((p) => p.waitForOutcome()));
    expect(outcomes.map((round) => [round.status, round.aggregate])).toEqual([['complete', 41], ['complete', 41], ['complete', 41]]);

    // client-5's s key was revealed (kind sk), never its b; the maskers' b, never their s key.
    for (const shares of service.revealed.values()) {
      expect(shares.filter((share) => share.of === 'client-5').map((share) => share.kind)).toEqual(['sk']);
      expect(shares.filter((share) => share.of !== 'client-5').every((share) => share.kind === 'b')).toBe(true);
    }
    const encoded = values.slice(0, 4).map((x) => encodeFixedPoint(x, { clipRange: 1, bits: 16, weight: 1 }));
    expect(service.sum).toEqual(sumWords(encoded));

    // And the mean it decodes to is the clipped mean, to within c / (2S) per value.
    const sum = service.sum!;
    const weight = signed(sum[1_000]!);
    expect(weight).toBe(4);
    const scale = fixedPointScale(16);
    for (let i = 0; i < 1_000; i += 1) {
      const mean = values.slice(0, 4).reduce((total, x) => total + Math.min(Math.max(x[i]!, -1), 1), 0) / 4;
      expect(Math.abs((signed(sum[i]!) / weight) * (1 / scale) - mean)).toBeLessThanOrEqual(1 / (2 * scale) + 1e-12);
    }
  });

  it('run(): a weighted round of nested-array updates, all stages polled', async () => {
    const three = ids.slice(0, 3);
    const service = new FakeSecureService(three, { length: 6, threshold: 2, weighted: true, max_weight: 100, shapes: [[2, 2], [2]], layout: 'layers', clip_range: 0.5 });
    const updates = [
      [[[0.1, -0.2], [0.3, 0.4]], [0.5, -0.6]],
      [[[1, 1], [1, 1]], [1, 1]],
      [[[-0.25, 0], [0.25, 0.125]], [-1, 0.01]],
    ];
    const weights = [10, 1, 100];
    const rounds = await Promise.all(three.map((id, i) => new SecureRoundParticipant(service.transport(id), { pollMs: 1 }).run(updates[i]!, { numExamples: weights[i]! })));
    expect(rounds.every((round) => round.status === 'complete')).toBe(true);
    const encoded = updates.map((update, i) => encodeFixedPoint(update.flat(2), { clipRange: 0.5, bits: 16, weight: weights[i]! }));
    expect(service.sum).toEqual(sumWords(encoded));
    expect(service.sum![6]).toBe(111);
  });

  it('refuses a client that did not share, an update of the wrong length or weight, and a reveal when fewer than t masked', async () => {
    const three = ids.slice(0, 3);
    const service = new FakeSecureService(three, { length: 4, threshold: 2, weighted: true, max_weight: 5 });
    const participants = three.map((id) => new SecureRoundParticipant(service.transport(id), { pollMs: 1 }));
    await Promise.all(participants.map((p) => p.advertise()));
    await Promise.all(participants.map((p) => p.waitWhile('advertising')));
    const [p1, p2, p3] = participants as [SecureRoundParticipant, SecureRoundParticipant, SecureRoundParticipant];
    // client-3 does not share in time.
    await Promise.all([p1, p2].map((p) => p.share()));
    await service.close();
    await Promise.all(participants.map((p) => p.waitWhile('sharing')));
    await expect(p3.maskedInput([1, 2, 3, 4], 1)).rejects.toMatchObject({ code: 'not_sharer' });
    await expect(p1.maskedInput([1, 2, 3], 1)).rejects.toMatchObject({ code: 'bad_update' });
    await expect(p1.maskedInput([1, 2, 3, 4], 6)).rejects.toMatchObject({ code: 'bad_update' });
    await expect(p1.maskedInput([1, 2, 3, 4])).rejects.toMatchObject({ code: 'bad_update' });
    await expect(p1.reveal()).rejects.toMatchObject({ code: 'wrong_stage' });
    await p1.maskedInput([1, 2, 3, 4], 5);
    await p2.maskedInput([0, 0, 0, 0], 1); // every sharer masked: the stage closes
    // Were the threshold 3 at this point, two maskers could not be unmasked safely.
    service.round.threshold = 3;
    await p1.waitWhile('masking');
    await expect(p1.reveal()).rejects.toMatchObject({ code: 'too_few_maskers' });
    await expect(p3.waitWhile('masking')).resolves.toMatchObject({ status: 'unmasking' });
    await expect(p3.reveal()).rejects.toMatchObject({ code: 'not_masker' });
  });

  it('a failed round is a SecureRoundError with the service\'s reason; a client left out is told so', async () => {
    const four = ids.slice(0, 4);
    const service = new FakeSecureService(four, { length: 2, threshold: 3 });
    const participants = four.map((id) => new SecureRoundParticipant(service.transport(id), { pollMs: 1 }));
    await Promise.all(participants.map((p) => p.advertise()));
    // The service left client-4 out of the participants.
    service.round.participants = service.round.participants.filter((member) => member.client !== 'client-4');
    await Promise.all(participants.map((p) => p.refresh()));
    await expect(participants[3]!.share()).rejects.toMatchObject({ code: 'not_participant', message: expect.stringContaining("not in round 7:2's participants") });
    // Only two share: the stage closes with fewer than t, and the round fails.
    await Promise.all(participants.slice(0, 2).map((p) => p.share()));
    await service.close();
    const error = await participants[0]!.waitWhile('sharing').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecureRoundError);
    expect(error).toMatchObject({ code: 'round_failed', failureReason: 'only 2 sharers' });
    // A client that has not seen the failure yet is refused by the service; once it has, by itself.
    await expect(participants[2]!.share()).rejects.toThrow(/409 POST shares\/: the round is failed/);
    await participants[2]!.refresh();
    await expect(participants[2]!.share()).rejects.toMatchObject({ code: 'round_failed' });
    // A participant that never advertised has no round to wait for.
    await expect(new SecureRoundParticipant(service.transport('client-9')).waitWhile('advertising')).rejects.toMatchObject({ code: 'wrong_stage' });
  });

  it('times out a wait that outlasts its limit', async () => {
    const service = new FakeSecureService(ids, { length: 2 });
    const participant = new SecureRoundParticipant(service.transport(ids[0]!), { pollMs: 1 });
    await participant.advertise();
    await expect(participant.waitWhile('advertising', { timeoutMs: 20 })).rejects.toMatchObject({ code: 'timeout' });
  });

  it('maskInput adds the self mask and the pairwise masks with the sign of the index order', async () => {
    const x = Uint32Array.of(1, 2, 3);
    const b = randomBytes(32);
    const low = randomBytes(32);
    const high = randomBytes(32);
    const y = await maskInput(x, b, 2, [{ index: 1, seed: low }, { index: 3, seed: high }]);
    await addPrg(y, b, -1);
    await addPrg(y, low, 1);
    await addPrg(y, high, -1);
    expect(y).toEqual(x);
    await expect(maskInput(x, b, 2, [{ index: 2, seed: low }])).rejects.toThrow(RangeError);
  });
});
