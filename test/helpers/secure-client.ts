import { createCipheriv, createDecipheriv, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { agreedKey, HKDF_INFO } from '../../lib/secure-aggregation/keys';
import { encodeFixedPoint } from '../../lib/secure-aggregation/fixed-point';
import { addPrgMask } from '../../lib/secure-aggregation/prg';
import { shareToHex, splitSecret } from '../../lib/secure-aggregation/shamir';
import type { ApiReply, ApiCallOptions } from './http-api';

type Api = (method: string, path: string, options?: ApiCallOptions) => Promise<ApiReply>;

/** The round as the API shows it (the fields these tests read). */
export interface RoundJson {
  round: number;
  id: string;
  status: string;
  threshold: number;
  clip_range: number;
  bits: number;
  length: number;
  participants: { client: string; index: number; c_public_key: string; s_public_key: string }[];
  sharers: string[];
  maskers: string[];
  revealers: string[];
  aggregate: number | null;
  failure_reason: string | null;
}

function x25519Pair(): { privateRaw: Buffer; publicRaw: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    privateRaw: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16),
    publicRaw: publicKey.export({ format: 'der', type: 'spki' }).subarray(12),
  };
}

/**
 * A secure-round client written for the tests from docs/secure-aggregation-protocol.md with Node's
 * crypto and the service's own primitives: one stage per method, so a test can stop it after any
 * stage (a dropout). The SDKs are checked against the same service in the e2e tests.
 */
export class TestSecureClient {
  readonly c = x25519Pair();
  readonly s = x25519Pair();
  readonly b = randomBytes(32);
  round: RoundJson | undefined;
  /** Shares this client holds: of each peer's b and sk (and its own), at its own index. */
  readonly held = new Map<string, { b: string; sk: string }>();
  /** What it masked (the encoded words), for the tests' exact checks. */
  encoded: Uint32Array | undefined;

  constructor(
    private readonly api: Api,
    readonly model: number,
    readonly client: string,
  ) {}

  /** The client's public id, as the round names it (the service says it in `caller`). */
  id = '';

  private path(suffix: string): string {
    return `/api/v1/models/${this.model}/secure_round/${suffix}`;
  }

  async advertise(shapes?: number[][]): Promise<ApiReply> {
    const reply = await this.api('POST', this.path('keys/'), {
      client: this.client,
      body: { c_public_key: this.c.publicRaw.toString('base64'), s_public_key: this.s.publicRaw.toString('base64'), ...(shapes ? { shapes } : {}) },
    });
    if (reply.status === 201) {
      this.round = reply.body;
      this.id = reply.body.caller;
    }
    return reply;
  }

  async refresh(): Promise<RoundJson> {
    const reply = await this.api('GET', `${this.path('')}?round=${this.round!.round}`, { client: this.client });
    if (reply.status !== 200) throw new Error(`GET round answered ${reply.status}: ${JSON.stringify(reply.body)}`);
    this.round = reply.body;
    return this.round!;
  }

  async waitWhile(status: string, timeoutMs = 30_000): Promise<RoundJson> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const round = await this.refresh();
      if (round.status !== status) return round;
      if (Date.now() > deadline) throw new Error(`round still ${status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The shares body: b and sk split among the participants, each pair encrypted to its holder. */
  shareBody(): { round: number; shares: { to: string; ciphertext: string }[] } {
    const round = this.round!;
    const xs = round.participants.map((p) => p.index);
    const bShares = splitSecret(this.b, round.threshold, xs);
    const skShares = splitSecret(this.s.privateRaw, round.threshold, xs);
    const shares: { to: string; ciphertext: string }[] = [];
    round.participants.forEach((peer, i) => {
      const pair = { b: shareToHex(bShares[i]!.y), sk: shareToHex(skShares[i]!.y) };
      if (peer.client === this.id) {
        this.held.set(this.id, pair);
        return;
      }
      const key = agreedKey(this.c.privateRaw, Buffer.from(peer.c_public_key, 'base64'), round.id, HKDF_INFO.shareEncryption);
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(`${round.id}|${this.id}|${peer.client}`, 'utf8'));
      const plaintext = JSON.stringify({ round: round.id, from: this.id, to: peer.client, ...pair });
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      shares.push({ to: peer.client, ciphertext: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64') });
    });
    return { round: round.round, shares };
  }

  async share(): Promise<ApiReply> {
    return this.api('POST', this.path('shares/'), { client: this.client, body: this.shareBody() });
  }

  /** Fetches and decrypts its inbox (each share checked), then masks and uploads `values`. */
  async maskedInput(values: ArrayLike<number>, weight = 1): Promise<ApiReply> {
    const round = this.round!;
    const inbox = await this.api('GET', `${this.path('shares/')}?round=${round.round}`, { client: this.client });
    if (inbox.status !== 200) return inbox;
    const byClient = new Map(round.participants.map((p) => [p.client, p]));
    for (const { from, ciphertext } of inbox.body.shares as { from: string; ciphertext: string }[]) {
      if (!round.sharers.includes(from)) continue;
      const raw = Buffer.from(ciphertext, 'base64');
      const key = agreedKey(this.c.privateRaw, Buffer.from(byClient.get(from)!.c_public_key, 'base64'), round.id, HKDF_INFO.shareEncryption);
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(`${round.id}|${from}|${this.id}`, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      const pair = JSON.parse(Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8'));
      if (pair.round !== round.id || pair.from !== from || pair.to !== this.id) throw new Error('a share for another round or pair');
      this.held.set(from, { b: pair.b, sk: pair.sk });
    }
    const words = encodeFixedPoint(values, round, weight);
    this.encoded = words.slice();
    addPrgMask(words, this.b, 1);
    const me = byClient.get(this.id)!;
    for (const peer of round.sharers) {
      if (peer === this.id) continue;
      const v = byClient.get(peer)!;
      const seed = agreedKey(this.s.privateRaw, Buffer.from(v.s_public_key, 'base64'), round.id, HKDF_INFO.pairwiseMask);
      addPrgMask(words, seed, v.index > me.index ? 1 : -1);
    }
    const bytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const declared = await this.api('POST', this.path('masked_input/'), { client: this.client, body: { round: round.round, sha256 } });
    if (declared.status !== 201) return declared;
    const put = await fetch(declared.body.url, { method: 'PUT', headers: declared.body.headers, body: bytes });
    if (!put.ok) throw new Error(`PUT answered ${put.status}`);
    return this.api('POST', this.path('masked_input/complete/'), { client: this.client, body: { round: round.round, upload: declared.body.upload } });
  }

  /** What it reveals: b shares of the maskers (itself included), sk shares of the sharers that dropped. */
  revealBody(): { round: number; shares: { of: string; kind: 'b' | 'sk'; share: string }[] } {
    const round = this.round!;
    return {
      round: round.round,
      shares: round.sharers.map((of) => {
        const kind = round.maskers.includes(of) ? ('b' as const) : ('sk' as const);
        return { of, kind, share: this.held.get(of)![kind] };
      }),
    };
  }

  async reveal(): Promise<ApiReply> {
    return this.api('POST', this.path('reveal/'), { client: this.client, body: this.revealBody() });
  }
}
