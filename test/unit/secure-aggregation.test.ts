import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStrategy } from '../../lib/algorithms/strategies';
import type { SecureRound } from '../../lib/entities';
import { ValidationError } from '../../lib/errors';
import { decodeMean, encodeFixedPoint, fixedPointScale, overflowProblem, quantisationError } from '../../lib/secure-aggregation/fixed-point';
import { agreedKey, HKDF_INFO, x25519PublicOf } from '../../lib/secure-aggregation/keys';
import { prgWords } from '../../lib/secure-aggregation/prg';
import { combineShares, FIELD_PRIME, lagrangeAtZero, parseShareHex, shareToHex, splitSecret } from '../../lib/secure-aggregation/shamir';
import { assertSecureAggregationStrategy } from '../../lib/secure-aggregation/strategy';
import { addWordStream, reconstructSecrets, removeMasks, UnmaskingError } from '../../lib/secure-aggregation/unmask';

/**
 * The service's side of the secure aggregation protocol (lib/secure-aggregation): the primitives
 * against the interop vectors the SDKs reproduce (so three implementations agree), reconstruction
 * and unmasking, the fixed-point bounds, and the strategies a secure model may have.
 */
const vectorFiles = [
  join(__dirname, '../fixtures/secure-aggregation/vectors-ts.json'),
  join(__dirname, '../../clients/python/tests/fixtures/secure-aggregation-vectors-py.json'),
].filter((file) => existsSync(file));

const hex = (text: string) => Buffer.from(text, 'hex');

describe.each(vectorFiles)('the interop vectors of %s', (file) => {
  const vectors = JSON.parse(readFileSync(file, 'utf8'));

  it('give the same PRG words, X25519 keys and HKDF outputs', () => {
    expect(Array.from(prgWords(hex(vectors.prg.seed_hex), vectors.prg.words.length))).toEqual(vectors.prg.words);
    const x = vectors.x25519;
    expect(x25519PublicOf(hex(x.a_private_hex)).toString('hex')).toBe(x.a_public_hex);
    expect(x25519PublicOf(hex(x.b_private_hex)).toString('hex')).toBe(x.b_public_hex);
    expect(agreedKey(hex(x.a_private_hex), hex(x.b_public_hex), vectors.round_id, HKDF_INFO.pairwiseMask).toString('hex')).toBe(x.pairwise_seed_hex);
    expect(agreedKey(hex(x.b_private_hex), hex(x.a_public_hex), vectors.round_id, HKDF_INFO.shareEncryption).toString('hex')).toBe(x.share_key_hex);
  });

  it('give the same Shamir shares, and any threshold of them gives the secret back', () => {
    const { secret_hex, threshold, coefficients_hex, shares } = vectors.shamir;
    const split = splitSecret(hex(secret_hex), threshold, [1, 2, 3, 4, 5], coefficients_hex.map((c: string) => BigInt(`0x${c}`)));
    expect(split.map((share) => ({ x: share.x, y_hex: shareToHex(share.y) }))).toEqual(shares);
    for (const chosen of [[0, 1, 2], [2, 3, 4], [0, 2, 4]]) {
      const picked = chosen.map((i) => shares[i]);
      const secret = combineShares(picked.map((s: { y_hex: string }) => parseShareHex(s.y_hex)!), lagrangeAtZero(picked.map((s: { x: number }) => s.x)));
      expect(secret?.toString('hex')).toBe(secret_hex);
    }
  });

  it('give the same fixed-point words', () => {
    const { values, clip_range, bits, weight, words } = vectors.fixed_point;
    expect(Array.from(encodeFixedPoint(values, { clip_range, bits }, weight))).toEqual(words);
  });

  it("unmask the three clients' masked inputs to the sum of their encodings", () => {
    const { clients, clip_range, bits, masked_words } = vectors.round;
    const round = roundOf(vectors.round_id, clients, { maskers: clients.map((c: { id: string }) => c.id) });
    const sum = new Uint32Array(masked_words[0].length);
    for (const words of masked_words) words.forEach((word: number, i: number) => (sum[i] = (sum[i]! + word) >>> 0));
    removeMasks(sum, round, { selfSeeds: clients.map((c: { id: string; b_seed_hex: string }) => ({ client: c.id, seed: hex(c.b_seed_hex) })), droppedKeys: [] });
    const expected = new Uint32Array(sum.length);
    for (const client of clients) encodeFixedPoint(client.values, { clip_range, bits }, 1).forEach((word, i) => (expected[i] = (expected[i]! + word) >>> 0));
    expect(Array.from(sum)).toEqual(Array.from(expected));
  });
});

function roundOf(id: string, clients: { id: string; index: number; s_private_hex: string }[], lists: Partial<SecureRound>): SecureRound {
  return {
    id,
    federatedModel: 7,
    number: 2,
    status: 'summing',
    stageDeadline: new Date(),
    options: { threshold: 2, clip_range: 1, bits: 16, max_weight: 1, stage_seconds: 60 },
    weighted: false,
    shape: { layout: 'vector', shapes: [[5]], length: 5 },
    participants: clients.map((c) => ({ client: c.id, index: c.index, cPublicKey: '', sPublicKey: x25519PublicOf(hex(c.s_private_hex)).toString('base64') })),
    sharers: clients.map((c) => c.id),
    maskers: [],
    revealers: [],
    aggregate: null,
    failureReason: null,
    createdOn: new Date(),
    ...lists,
  };
}

describe('reconstruction', () => {
  const clients = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, index: i + 1, s_private_hex: Buffer.alloc(32, i + 7).toString('hex') }));

  it('rebuilds a dropped client\'s key from the threshold of revealed shares, and refuses fewer', () => {
    const round = roundOf('1:1', clients, { maskers: ['a', 'b', 'c'], revealers: ['a', 'b'], options: { threshold: 2, clip_range: 1, bits: 16, max_weight: 1, stage_seconds: 60 } });
    const b = Buffer.alloc(32, 1);
    const skShares = splitSecret(hex(clients[3]!.s_private_hex), 2, [1, 2, 3, 4]);
    const bShares = Object.fromEntries(['a', 'b', 'c'].map((id) => [id, splitSecret(b, 2, [1, 2, 3, 4])]));
    const reveal = (x: number, id: string) => ({
      client: id,
      reveals: [
        ...['a', 'b', 'c'].map((of) => ({ of, kind: 'b' as const, share: shareToHex(bShares[of]![x - 1]!.y) })),
        { of: 'd', kind: 'sk' as const, share: shareToHex(skShares[x - 1]!.y) },
      ],
    });
    const secrets = reconstructSecrets(round, [reveal(1, 'a'), reveal(2, 'b')]);
    expect(secrets.droppedKeys).toEqual([{ client: 'd', privateKey: hex(clients[3]!.s_private_hex) }]);
    expect(secrets.selfSeeds.map((s) => s.seed)).toEqual([b, b, b]);
    expect(() => reconstructSecrets(round, [reveal(1, 'a')])).toThrow(UnmaskingError);
    // A wrong share of the key gives another key, which is not the one advertised.
    const wrong = reveal(2, 'b');
    wrong.reveals[3] = { of: 'd', kind: 'sk', share: shareToHex((skShares[1]!.y + 1n) % FIELD_PRIME) };
    expect(() => reconstructSecrets(round, [reveal(1, 'a'), wrong])).toThrow(/do not give|not give the key it advertised/);
  });
});

describe('fixed point', () => {
  it('decodes the mean within half a step, weighted by the last word', () => {
    const options = { clip_range: 2, bits: 12 };
    const a = encodeFixedPoint([0.3, -1.9, 5], options, 3);
    const b = encodeFixedPoint([-0.7, 1.1, -5], options, 1);
    const sum = a.map((word, i) => (word + b[i]!) >>> 0);
    const mean = decodeMean(sum, options);
    const expected = [(3 * 0.3 - 0.7) / 4, (3 * -1.9 + 1.1) / 4, (3 * 2 - 2) / 4];
    mean.forEach((value, i) => expect(Math.abs(value - expected[i]!)).toBeLessThanOrEqual(quantisationError(options) + 1e-12));
    expect(fixedPointScale(12)).toBe(2047);
  });

  it('says when the participants could wrap the 32-bit sum', () => {
    expect(overflowProblem(1000, { bits: 16, max_weight: 1 })).toBeNull();
    expect(overflowProblem(70_000, { bits: 16, max_weight: 1 })).toMatch(/could wrap/);
    expect(overflowProblem(10, { bits: 16, max_weight: 10_000 })).toMatch(/lower bits or max_weight/);
  });

  it('adds a word stream whose chunks split words', async () => {
    const sum = new Uint32Array([1, 2, 3]);
    const bytes = Buffer.from(new Uint32Array([10, 2 ** 32 - 1, 7]).buffer);
    async function* chunks() {
      yield bytes.subarray(0, 3);
      yield bytes.subarray(3, 9);
      yield bytes.subarray(9);
    }
    expect(await addWordStream(sum, chunks())).toBe(3);
    expect(Array.from(sum)).toEqual([11, 1, 10]);
  });
});

describe('strategies with secure aggregation', () => {
  const options = { threshold: 2, clip_range: 1, bits: 16, max_weight: 1, stage_seconds: 60 };

  it.each([
    ['avg_values_if_data', null],
    ['weighted_fedavg', null],
    ['fedadam', { server_lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 }],
  ])('allows %s, which needs only the sum', (name, params) => {
    expect(() => assertSecureAggregationStrategy(parseStrategy(name, params), options)).not.toThrow();
  });

  it.each([
    ['coordinate_median', null, /compares the updates one by one/],
    ['trimmed_mean', { beta: 0.1 }, /compares the updates one by one/],
    ['krum', { f: 1 }, /compares the updates one by one/],
    ['avg_values_if_data', { clip_norm: 1 }, /clip_norm clips each update on its own/],
    ['fedavgm', { server_lr: 1, momentum: 0.9, staleness_exponent: 0.5 }, /staleness_exponent/],
  ])('refuses %s with a reason', (name, params, reason) => {
    const refuse = () => assertSecureAggregationStrategy(parseStrategy(name, params), options);
    expect(refuse).toThrow(ValidationError);
    expect(refuse).toThrow(reason);
  });
});
