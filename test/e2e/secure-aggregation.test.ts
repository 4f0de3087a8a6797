import { FmaClient, encodeFixedPoint, type SecureRound } from '@fma-serverless/client';
import { MongoMetadataConnector } from '../../lib/connector';
import { fixedPointScale, quantisationError } from '../../lib/secure-aggregation/fixed-point';
import { getObjectStore } from '../../lib/store';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { httpApi } from '../helpers/http-api';
import { TestSecureClient } from '../helpers/secure-client';

/**
 * Secure aggregation (issue #28) over real HTTP: serverless-offline, the database, the object
 * store, and the built TypeScript SDK's clients (test/e2e/secure-aggregation-python.test.ts mixes
 * in Python clients). Rounds run to the aggregate the state machine writes, which must be the mean
 * of the clients' fixed-point encodings exactly; then what the service stored is searched for
 * any client's update.
 */
describe('secure aggregation over HTTP', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let token: string;
  const api = httpApi(() => offline.httpUrl);
  const CLIP = 1;
  const BITS = 16;
  /** Every client's plaintext, by model, for the search of the stored data. */
  const plaintexts: { model: number; values: Float64Array; encoded: Uint32Array }[] = [];

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    token = (await connector.createDeveloper('secure')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/secure-aggregation',
      readyTimeoutMs: 280_000,
    });
  }, 300_000);
  afterAll(() => offline?.stop());

  async function secureModel(count: number, secure: Record<string, unknown>, settings: Record<string, unknown> = {}) {
    const model = await api('POST', '/api/v1/models/', {
      token,
      body: { name: 'secure', aggregator: 'avg_values_if_data', secure_aggregation: { clip_range: CLIP, bits: BITS, ...secure }, ...settings },
    });
    expect(model.status).toBe(201);
    const clients: FmaClient[] = [];
    for (let i = 0; i < count; i += 1) {
      const client = new FmaClient({ baseUrl: offline.httpUrl, federatedModelId: model.body.id, timeoutMs: 30_000 });
      await client.register();
      clients.push(client);
    }
    return { model: model.body.id as number, clients };
  }

  /** Deterministic values in [-1.3, 1.3): some are clipped. */
  function valuesOf(length: number, seed: number): Float64Array {
    let state = seed * 7_919 + 1;
    return Float64Array.from({ length }, () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return (state / 2 ** 31) * 2.6 - 1.3;
    });
  }

  function encode(model: number, values: Float64Array): Uint32Array {
    const encoded = encodeFixedPoint(values, { clipRange: CLIP, bits: BITS, weight: 1 });
    plaintexts.push({ model, values, encoded });
    return encoded;
  }

  /** The aggregate the round wrote must be Σ encodings / n × c / S, value for value, exactly. */
  async function expectExactMean(round: SecureRound, encodings: readonly Uint32Array[], values: readonly Float64Array[]) {
    expect(round.status).toBe('complete');
    const aggregate = await api('GET', `/api/v1/model_aggregates/${round.aggregate}/`, { token });
    expect(aggregate.status).toBe(200);
    const latest = await api('GET', `/api/v1/models/${round.federated_model}/get_latest_aggregate/`, { token });
    expect(latest.body.id).toBe(round.aggregate);
    const got = (latest.body.result as number[]).flat(8);
    const length = encodings[0]!.length - 1;
    const sums = new Int32Array(length + 1);
    for (const encoded of encodings) encoded.forEach((word, i) => (sums[i] = (sums[i]! + word) | 0));
    expect(sums[length]).toBe(encodings.length); // the weights
    const factor = CLIP / fixedPointScale(BITS) / encodings.length;
    expect(got).toEqual(Array.from(sums.subarray(0, length), (total) => total * factor));
    // Decoded, within the stated quantisation error of the plain mean of the clipped values.
    const bound = quantisationError({ clip_range: CLIP, bits: BITS }) + 1e-12;
    got.forEach((value, i) => {
      const plain = values.reduce((sum, v) => sum + Math.min(CLIP, Math.max(-CLIP, v[i]!)), 0) / values.length;
      expect(Math.abs(value - plain)).toBeLessThanOrEqual(bound);
    });
  }

  it('aggregates one round of 10 clients to the exact mean of their encoded updates', async () => {
    const { model, clients } = await secureModel(10, { threshold: 6, stage_seconds: 120 });
    const values = clients.map((_, i) => valuesOf(2_000, i + 1));
    const encodings = values.map((v) => encode(model, v));
    const rounds = await Promise.all(clients.map((client, i) => client.secureRound(values[i]!, { pollMs: 100 })));
    for (const round of rounds) expect(round.aggregate).toBe(rounds[0]!.aggregate);
    await expectExactMean(rounds[0]!, encodings, values);
    expect(rounds[0]!.participants).toHaveLength(10);
    expect(rounds[0]!.maskers).toHaveLength(10);
  });

  it('recovers from 3 clients dropping after sharing and 1 after its masked input', async () => {
    const { model, clients } = await secureModel(10, { threshold: 5, stage_seconds: 6 });
    const participants = clients.map((client) => client.secureParticipant({ pollMs: 100 }));
    const values = clients.map((_, i) => valuesOf(500, 100 + i));
    await Promise.all(participants.map((p) => p.advertise([[500]])));
    await Promise.all(participants.map((p) => p.waitWhile('advertising')));
    await Promise.all(participants.map((p) => p.share()));
    await Promise.all(participants.map((p) => p.waitWhile('sharing')));
    const maskers = participants.slice(3); // 0-2 drop after sharing
    await Promise.all(maskers.map((p, i) => p.maskedInput(values[3 + i]!)));
    await Promise.all(maskers.map((p) => p.waitWhile('masking')));
    expect(maskers[0]!.round!.maskers).toHaveLength(7);
    const revealers = maskers.slice(1); // 3 drops after its masked input
    await Promise.all(revealers.map((p) => p.reveal()));
    const rounds = await Promise.all(revealers.map((p) => p.waitForOutcome()));
    expect(rounds[0]!.revealers).toHaveLength(6);
    // The dropped client's masked input is in the sum (others revealed its self mask); the three
    // that left before theirs are not, and their pairwise masks were removed.
    const encodings = values.slice(3).map((v) => encode(model, v));
    await expectExactMean(rounds[0]!, encodings, values.slice(3));
  });

  it('fails a round with too many dropouts, with why, and publishes nothing', async () => {
    const { model, clients } = await secureModel(5, { threshold: 4, stage_seconds: 4 });
    const participants = clients.map((client) => client.secureParticipant({ pollMs: 100 }));
    await Promise.all(participants.map((p) => p.advertise([[50]])));
    await Promise.all(participants.map((p) => p.waitWhile('advertising')));
    await Promise.all(participants.map((p) => p.share()));
    await Promise.all(participants.map((p) => p.waitWhile('sharing')));
    const stayed = participants.slice(2); // two drop after sharing: 3 masked inputs, threshold 4
    await Promise.all(stayed.map((p, i) => p.maskedInput(valuesOf(50, 300 + i))));
    const failure = await stayed[0]!.waitWhile('masking').then(
      () => null,
      (error: Error & { failureReason?: string | null }) => error,
    );
    expect(failure?.failureReason).toBe(
      'only 3 of the 5 clients expected sent their masked input before the masking stage closed; 4 (the threshold) are needed',
    );
    const round = await api('GET', `/api/v1/models/${model}/secure_round/`, { token });
    expect(round.body).toMatchObject({ status: 'failed', aggregate: null, maskers: [] });
    expect((await api('GET', `/api/v1/models/${model}/get_latest_aggregate/`, { token })).body).toEqual({});
    // The next key advertisement opens a new round.
    const next = await participants[0]!.advertise([[50]]);
    expect(next.round).toBe(round.body.round + 1);
  });

  it('refuses a second message in a stage, a replayed one, a reveal that would unmask a client, and shows each client only its own shares', async () => {
    const { model, clients } = await secureModel(3, { threshold: 2, stage_seconds: 60 });
    const raw = clients.map((client) => new TestSecureClient(api, model, client.clientUuid!));
    for (const client of raw) expect((await client.advertise([[20]])).status).toBe(201);
    expect((await raw[0]!.advertise([[20]])).status).toBe(409); // a second advertisement in the round
    for (const client of raw) await client.waitWhile('advertising');
    const sharesOf0 = raw[0]!.shareBody();
    expect((await api('POST', `/api/v1/models/${model}/secure_round/shares/`, { client: clients[0]!.clientUuid!, body: sharesOf0 })).status).toBe(201);
    const again = await api('POST', `/api/v1/models/${model}/secure_round/shares/`, { client: clients[0]!.clientUuid!, body: sharesOf0 });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toMatch(/already sent its encrypted shares/);
    // Before sharing closes, no inbox can be read.
    expect((await api('GET', `/api/v1/models/${model}/secure_round/shares/?round=${raw[0]!.round!.round}`, { client: clients[1]!.clientUuid! })).status).toBe(409);
    for (const client of raw.slice(1)) expect((await client.share()).status).toBe(201);
    for (const client of raw) await client.waitWhile('sharing');
    // Each inbox holds the shares addressed to its owner only, which that owner alone can open.
    const inboxes = await Promise.all(
      clients.map((client, i) => api('GET', `/api/v1/models/${model}/secure_round/shares/?round=${raw[i]!.round!.round}`, { client: client.clientUuid! })),
    );
    inboxes.forEach((inbox, i) => {
      expect(inbox.status).toBe(200);
      expect(inbox.body.shares.map((share: { from: string }) => share.from).sort()).toEqual(raw.filter((_, k) => k !== i).map((c) => c.id).sort());
    });
    const ciphertexts = inboxes.map((inbox) => new Set(inbox.body.shares.map((share: { ciphertext: string }) => share.ciphertext)));
    expect([...ciphertexts[0]!].some((c) => ciphertexts[1]!.has(c))).toBe(false);
    // A replayed shares message, after the stage closed.
    expect((await api('POST', `/api/v1/models/${model}/secure_round/shares/`, { client: clients[0]!.clientUuid!, body: sharesOf0 })).status).toBe(409);
    for (const [i, client] of raw.entries()) expect((await client.maskedInput(valuesOf(20, 400 + i))).status).toBe(201);
    const second = await raw[0]!.maskedInput(valuesOf(20, 500));
    expect(second.status).toBe(409); // one masked input per client and round
    for (const client of raw) await client.waitWhile('masking');
    // Revealing a survivor's sk share would let the service unmask it: refused, and nothing stored.
    const unmasking = raw[0]!.revealBody();
    const hostile = { ...unmasking, shares: unmasking.shares.map((share) => (share.of === raw[1]!.id ? { ...share, kind: 'sk', share: raw[0]!.held.get(raw[1]!.id)!.sk } : share)) };
    const refused = await api('POST', `/api/v1/models/${model}/secure_round/reveal/`, { client: clients[0]!.clientUuid!, body: hostile });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/only its b share may be revealed/);
    expect(await database.db.collection('secure_round_messages').countDocuments({ round: raw[0]!.round!.id, stage: 'reveal' })).toBe(0);
    for (const client of raw) expect((await client.reveal()).status).toBe(201);
    const round = await raw[0]!.waitWhile('unmasking');
    expect(['summing', 'complete']).toContain(round.status);
    // A reveal replayed after the round moved on.
    expect((await raw[0]!.reveal()).status).toBe(409);
    // A message for a round that is not the open one (an old round number).
    expect((await api('POST', `/api/v1/models/${model}/secure_round/shares/`, { client: clients[0]!.clientUuid!, body: { ...sharesOf0, round: 99 } })).status).toBe(404);
  });

  it('refuses plain updates and strategies that need more than the sum', async () => {
    const { model, clients } = await secureModel(1, { threshold: 2 });
    const plain = await api('POST', '/api/v1/model_updates/', { client: clients[0]!.clientUuid!, body: { federated_model: model, data: [1, 2] } });
    expect(plain.status).toBe(400);
    expect(JSON.stringify(plain.body)).toMatch(/uses secure aggregation/);
    for (const [aggregator, params] of [['coordinate_median', null], ['krum', { f: 1 }], ['avg_values_if_data', { clip_norm: 1 }]] as const) {
      const refused = await api('POST', '/api/v1/models/', {
        token,
        body: { name: 'x', aggregator, aggregator_params: params, secure_aggregation: { threshold: 2, clip_range: 1 } },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.secure_aggregation?.[0]).toMatch(/gives the service only the sum/);
    }
  });

  it('stores no client update: not in any document, not in any object', async () => {
    expect(plaintexts.length).toBeGreaterThanOrEqual(16);
    const documents: string[] = [];
    for (const { name } of await database.db.listCollections().toArray()) {
      for (const document of await database.db.collection(name).find().toArray()) documents.push(JSON.stringify(document));
    }
    const store = getObjectStore();
    const objects: Buffer[] = [];
    let continuation: string | null = null;
    do {
      const page = await store.list('', continuation ?? undefined);
      for (const object of page.objects) objects.push(await readAll(store, object.key));
      continuation = page.continuation;
    } while (continuation !== null);
    const maskedInputs = objects.filter((bytes) => plaintexts.some((p) => bytes.length === p.encoded.byteLength));
    expect(maskedInputs.length).toBeGreaterThanOrEqual(16);
    for (const { values, encoded } of plaintexts) {
      const encodedBytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength - 4);
      const head = encodedBytes.subarray(0, 64);
      const float32 = Buffer.from(Float32Array.from(values.subarray(0, 16)).buffer);
      const float64 = Buffer.from(values.buffer, values.byteOffset, 128);
      for (const bytes of objects) {
        expect(bytes.includes(head)).toBe(false);
        expect(bytes.includes(float32)).toBe(false);
        expect(bytes.includes(float64)).toBe(false);
      }
      for (const text of documents) expect(text.includes(String(values[0]))).toBe(false);
      // Each stored masked input of the same size is uncorrelated with this client's encoding.
      for (const bytes of maskedInputs.filter((b) => b.length === encoded.byteLength)) {
        expect(Math.abs(correlation(new Int32Array(encoded.buffer, encoded.byteOffset, encoded.length - 1), signedWords(bytes)))).toBeLessThan(0.2);
      }
    }
  });
});

async function readAll(store: ReturnType<typeof getObjectStore>, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.getStream(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function signedWords(bytes: Buffer): Int32Array {
  const copy = Buffer.from(bytes);
  return new Int32Array(copy.buffer, copy.byteOffset, copy.length / 4 - 1);
}

/** Pearson's r of two equally long vectors. */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}
