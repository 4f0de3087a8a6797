import { handler as router } from '../../../functions/api/router';
import { settleLocalRuns } from '../../../lib/aggregation/start-run';
import { getObjectStore } from '../../../lib/store';
import { encodeFixedPoint, fixedPointScale, quantisationError } from '../../../lib/secure-aggregation/fixed-point';
import { useHandlerDatabase } from '../../helpers/database';
import { handlerApi } from '../../helpers/http-api';
import { TestSecureClient } from '../../helpers/secure-client';

/**
 * Secure rounds (issue #28) through the API's router in-process, on the test database and object
 * store, with clients written from the protocol document (test/helpers/secure-client.ts) and the
 * aggregation state machine run by the local executor.
 */
describe('secure rounds', () => {
  const database = useHandlerDatabase();
  const api = handlerApi(() => router);
  let token: string;

  beforeAll(async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    token = (await database.connector.createDeveloper('secure')).token;
  });

  async function secureModel(clients: number, secure: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const model = await api('POST', '/api/v1/models/', {
      token,
      body: { name: 'secure', aggregator: 'avg_values_if_data', secure_aggregation: { stage_seconds: 30, ...secure }, ...extra },
    });
    expect(model.status).toBe(201);
    const credentials: string[] = [];
    for (let i = 0; i < clients; i++) {
      const joined = await api('POST', `/api/v1/models/${model.body.id}/register_client/`);
      expect(joined.status).toBe(201);
      credentials.push(joined.body.uuid);
    }
    return { model: model.body.id as number, clients: credentials.map((credential) => new TestSecureClient(api, model.body.id, credential)) };
  }

  function randomValues(length: number, seed: number): Float64Array {
    let state = seed;
    return Float64Array.from({ length }, () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return (state / 2 ** 31) * 2.4 - 1.2; // some beyond the clip range of 1
    });
  }

  async function latestAggregateValues(model: number): Promise<number[]> {
    const latest = await api('GET', `/api/v1/models/${model}/get_latest_aggregate/`, { token });
    expect(latest.status).toBe(200);
    return (latest.body.result as number[]).flat(8);
  }

  it('sums five clients exactly, with one dropping out after sharing', async () => {
    const { model, clients } = await secureModel(5, { threshold: 3, clip_range: 1, bits: 16 });
    const shapes = [[6]];
    for (const client of clients) expect((await client.advertise(shapes)).status).toBe(201);
    for (const client of clients) await client.waitWhile('advertising');
    expect(clients[0]!.round!.participants).toHaveLength(5);
    for (const client of clients) expect((await client.share()).status).toBe(201);
    await clients[0]!.waitWhile('sharing');
    const values = clients.map((_, i) => randomValues(6, i + 1));
    const survivors = clients.slice(0, 4); // the fifth shared, then dropped
    for (const [i, client] of survivors.entries()) {
      await client.refresh();
      expect((await client.maskedInput(values[i]!)).status).toBe(201);
    }
    // The last one's masked input does not close the stage: the fifth is still expected until the deadline.
    expect(survivors[0]!.round!.status).toBe('masking');
    await database.db.collection('secure_rounds').updateOne({ federatedModel: model }, { $set: { stageDeadline: new Date(Date.now() - 1) } });
    for (const client of survivors) await client.waitWhile('masking');
    expect(survivors[0]!.round!.maskers).toHaveLength(4);
    for (const client of survivors) expect((await client.reveal()).status).toBe(201);
    await settleLocalRuns();
    const round = await survivors[0]!.refresh();
    expect(round.status).toBe('complete');
    expect(round.aggregate).not.toBeNull();

    const expectedSum = new Int32Array(7);
    for (const client of survivors) client.encoded!.forEach((word, i) => (expectedSum[i] = (expectedSum[i]! + word) | 0));
    const scale = fixedPointScale(16);
    const exact = Array.from(expectedSum.subarray(0, 6), (total) => Math.fround((total * (1 / scale)) / 4));
    const aggregate = await latestAggregateValues(model);
    aggregate.forEach((value, i) => expect(value).toBeCloseTo(exact[i]!, 6));
    const plainMean = Array.from({ length: 6 }, (_, i) => survivors.reduce((sum, _c, k) => sum + Math.min(1, Math.max(-1, values[k]![i]!)), 0) / 4);
    aggregate.forEach((value, i) => expect(Math.abs(value - plainMean[i]!)).toBeLessThanOrEqual(quantisationError({ clip_range: 1, bits: 16 }) + 1e-6));
    expect(encodeFixedPoint([0.5], { clip_range: 1, bits: 16 })[0]).toBe(16_384);
  });

  it('opens one round for twenty clients advertising at once, and every one of them is in it', async () => {
    const { clients } = await secureModel(20, { threshold: 11, clip_range: 1 });
    const replies = await Promise.all(clients.map((client) => client.advertise([[4]])));
    expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(201));
    expect(new Set(replies.map((reply) => reply.body.round))).toEqual(new Set([1]));
    const round = await clients[0]!.refresh();
    expect(round.status).toBe('sharing');
    expect(round.participants.map((p) => p.client).sort()).toEqual(clients.map((c) => c.id).sort());
    expect(round.participants.map((p) => p.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Twenty concurrent share submissions close the stage once, with all twenty.
    await Promise.all(clients.map((client) => client.refresh()));
    const shared = await Promise.all(clients.map((client) => client.share()));
    expect(shared.map((reply) => reply.status)).toEqual(Array(20).fill(201));
    expect((await clients[0]!.refresh()).sharers).toHaveLength(20);
  });

  it('closes a stage whose deadline passed from the schedule, with no client polling', async () => {
    const { model, clients } = await secureModel(3, { threshold: 2, clip_range: 1 });
    for (const client of clients) await client.advertise([[3]]);
    for (const client of clients) await client.refresh();
    for (const client of clients) expect((await client.share()).status).toBe(201);
    for (const client of clients) await client.refresh();
    for (const client of clients.slice(0, 2)) expect((await client.maskedInput([0.25, -0.5, 1])).status).toBe(201);
    await database.db.collection('secure_rounds').updateOne({ federatedModel: model }, { $set: { stageDeadline: new Date(Date.now() - 1) } });
    const { handler: schedule } = await import('../../../functions/aggregation/start-scheduled-runs');
    const started = (await schedule({ time: new Date().toISOString() } as never, {} as never)) as { secureRounds: string[] };
    expect(started.secureRounds).toEqual([]);
    const round = (await database.db.collection('secure_rounds').findOne({ federatedModel: model }))!;
    expect(round.status).toBe('unmasking');
    expect(round.maskers).toHaveLength(2);
    for (const client of clients.slice(0, 2)) {
      await client.refresh();
      expect((await client.reveal()).status).toBe(201);
    }
    await settleLocalRuns();
    const ended = await clients[0]!.refresh();
    expect(ended.status).toBe('complete');
    // The mean of the two encodings: 0.25, -0.5, 1 each.
    expect(await latestAggregateValues(model)).toEqual([0.25, -0.5, 1].map((v) => (Math.floor(v * fixedPointScale(16) + 0.5) * 2 * (1 / fixedPointScale(16))) / 2));
  });

  /** One round of these clients with these values (and weights), all stages, to its end. */
  async function runRound(clients: TestSecureClient[], values: number[][], weights?: number[]) {
    for (const client of clients) expect((await client.advertise([[values[0]!.length]])).status).toBe(201);
    for (const client of clients) await client.refresh();
    for (const client of clients) expect((await client.share()).status).toBe(201);
    for (const client of clients) await client.refresh();
    for (const [i, client] of clients.entries()) expect((await client.maskedInput(values[i]!, weights?.[i])).status).toBe(201);
    for (const client of clients) await client.refresh();
    for (const client of clients) expect((await client.reveal()).status).toBe(201);
    await settleLocalRuns();
    return clients[0]!.refresh();
  }

  it('weighs each masked input by its client\'s num_examples under weighted_fedavg', async () => {
    const { model, clients } = await secureModel(3, { threshold: 2, clip_range: 2, bits: 12, max_weight: 100 }, { aggregator: 'weighted_fedavg' });
    const values = [[1, -2], [0.5, 0.5], [-1, 2]];
    const round = await runRound(clients, values, [10, 30, 60]);
    expect(round).toMatchObject({ status: 'complete', weighted: true });
    const scale = fixedPointScale(12);
    const expected = [0, 1].map((i) => {
      const total = values.reduce((sum, v, k) => sum + [10, 30, 60][k]! * Math.floor((v[i]! / 2) * scale + 0.5), 0);
      return total * (2 / scale / 100);
    });
    expect(await latestAggregateValues(model)).toEqual(expected);
    expect(Math.abs(expected[0]! - (10 * 1 + 30 * 0.5 - 60) / 100)).toBeLessThanOrEqual(quantisationError({ clip_range: 2, bits: 12 }));
  });

  it('applies the model\'s server optimizer to the unmasked mean (FedAvgM from the initial weights)', async () => {
    const { model, clients } = await secureModel(
      2,
      { threshold: 2, clip_range: 1, bits: 16 },
      { aggregator: 'fedavgm', aggregator_params: { server_lr: 0.5, momentum: 0 }, initial_model: [0.2, 0.2] },
    );
    const round = await runRound(clients, [[0.6, -0.2], [1, 0.2]]);
    expect(round.status).toBe('complete');
    const scale = fixedPointScale(16);
    const mean = [0, 1].map((i) => ([[0.6, -0.2], [1, 0.2]].reduce((sum, v) => sum + Math.floor(v[i]! * scale + 0.5), 0) * (1 / scale / 2)));
    // x₁ = x₀ + η (mean − x₀), η = 0.5
    const got = await latestAggregateValues(model);
    got.forEach((value, i) => expect(value).toBeCloseTo(0.2 + 0.5 * (mean[i]! - 0.2), 12));
    const aggregate = await api('GET', `/api/v1/model_aggregates/${round.aggregate}/`, { token });
    expect(aggregate.body.strategy).toMatchObject({ aggregator: 'fedavgm', num_updates: 2 });
  });

  it('never writes a second aggregate for a round whose sum died after writing its first', async () => {
    const { model, clients } = await secureModel(2, { threshold: 2, clip_range: 1 });
    const round = await runRound(clients, [[0.5], [0.25]]);
    expect(round.status).toBe('complete');
    // As if the run had died after posting the aggregate, before ending the round: still summing.
    const rounds = database.db.collection('secure_rounds');
    const stored = (await rounds.findOne({ federatedModel: model }))!;
    expect(stored.run).not.toBeNull();
    await rounds.updateOne({ _id: stored._id }, { $set: { status: 'summing', aggregate: null } });
    const { sumSecureRound } = await import('../../../lib/aggregation/sum-secure-round');
    const again = await sumSecureRound(database.connector, { model, run: 'the-next-run', parentAgg: round.aggregate, leaseSeconds: 60 });
    expect(again).toMatchObject({ summed: true, aggregate: { id: round.aggregate } });
    expect(await database.db.collection('model_aggregates').countDocuments({ federatedModel: model })).toBe(1);
    expect(await rounds.findOne({ _id: stored._id })).toMatchObject({ status: 'complete', aggregate: round.aggregate });
  });

  it('deletes a model\'s secure rounds, their messages and their masked inputs with the model', async () => {
    const { model, clients } = await secureModel(2, { threshold: 2, clip_range: 1 });
    expect((await runRound(clients, [[0.5], [0.25]])).status).toBe('complete');
    const round = (await database.db.collection('secure_rounds').findOne({ federatedModel: model }))!;
    const inputs = await database.db.collection('secure_round_messages').find({ round: round._id, stage: 'masked_input' }).toArray();
    expect(inputs).toHaveLength(2);
    const store = getObjectStore();
    for (const input of inputs) expect(await store.head(input.input.key)).not.toBeNull();
    expect((await api('DELETE', `/api/v1/models/${model}/`, { token })).status).toBe(204);
    expect(await database.db.collection('secure_rounds').countDocuments({ federatedModel: model })).toBe(0);
    expect(await database.db.collection('secure_round_messages').countDocuments({ round: round._id })).toBe(0);
    for (const input of inputs) expect(await store.head(input.input.key)).toBeNull();
  });
});

