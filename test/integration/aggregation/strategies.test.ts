import { createHash } from 'node:crypto';
import { executeAggregationLocally } from '../../../functions/aggregation/local-executor';
import { handler as router } from '../../../functions/api/router';
import { modelAggregateJson } from '../../../lib/api/representation';
import { coordinateMedianBlock } from '../../../lib/algorithms/strategies';
import { MongoMetadataConnector, type NewFederatedModel } from '../../../lib/connector';
import { UpdateStatus, type FederatedModel, type ModelAggregate } from '../../../lib/entities';
import { getObjectStore } from '../../../lib/store';
import { readOptimizerState } from '../../../lib/store/weights';
import fixtures from '../../fixtures/strategies/strategies.json';
import { useHandlerDatabase } from '../../helpers/database';
import { handlerApi } from '../../helpers/http-api';

/**
 * The strategies of issue #11, each run through the deployed state machine (local executor) on the
 * real test database and object store, checked against the NumPy fixtures to 1e-12.
 */
describe('aggregation strategies through the state machine', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;
  let runs = 0;
  const nextRun = () => `strategy-run-${++runs}`;
  beforeAll(() => {
    connector = database.connector;
  });

  function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance = 1e-12): void {
    expect(actual.length).toBe(expected.length);
    const worst = expected.reduce((max, value, j) => Math.max(max, Math.abs(actual[j]! - value) / Math.max(1, Math.abs(value))), 0);
    expect(worst).toBeLessThanOrEqual(tolerance);
  }

  async function newModel(clients: number, options: Omit<NewFederatedModel, 'name'>): Promise<{ model: FederatedModel; clients: string[] }> {
    const ids = await Promise.all(Array.from({ length: clients }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'strategies', clients: ids, allowAggregation: true, ...options });
    return { model, clients: ids };
  }

  async function send(model: FederatedModel, clients: string[], rows: readonly (readonly number[])[], baseAggregate: number | null = null) {
    const ids: number[] = [];
    for (const [i, data] of rows.entries()) {
      ids.push((await connector.createModelUpdate({ federatedModel: model.id, client: clients[i]!, data: [...data], baseAggregate })).id);
    }
    return ids;
  }

  async function aggregateOnce(model: FederatedModel): Promise<{ aggregate: ModelAggregate; values: Float64Array }> {
    const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
    expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated' });
    const aggregate = (await connector.pullLatestModelAggregate(model))!;
    return { aggregate, values: (await connector.pullModelAggregateWeights(aggregate))!.values };
  }

  describe('coordinate-wise median and trimmed mean, read in blocks with ranged GETs', () => {
    it.each(fixtures.coordinate.cases.map((c) => [c.kind, c.n, (c as { beta?: number }).beta ?? null, c] as const))(
      '%s of %i updates (β=%s) in blocks of 4 equals NumPy and is recorded on the aggregate',
      async (kind, n, beta, c) => {
        const params = kind === 'median' ? { block_size: 4 } : { beta: beta!, block_size: 4 };
        const aggregator = kind === 'median' ? 'coordinate_median' : 'trimmed_mean';
        const { model, clients } = await newModel(n, { aggregator, aggregatorParams: params });
        const updates = await send(model, clients, fixtures.coordinate.updates.slice(0, n));
        const { aggregate, values } = await aggregateOnce(model);
        expectClose(values, c.expected);
        expect(aggregate.strategy).toMatchObject({ aggregator, params, numUpdates: n, optimizerState: null });
        const done = await connector.pullModelUpdates(updates);
        expect(done.every((update) => update.status === UpdateStatus.COMPLETE)).toBe(true);
      },
    );

    it('takes float32 and float64 updates together (ranged reads per dtype, float64 sums)', async () => {
      const { model, clients } = await newModel(4, { aggregator: 'coordinate_median', aggregatorParams: { block_size: 5 } });
      const rows = fixtures.coordinate.updates.slice(0, 4);
      const stored: (Float32Array | Float64Array)[] = [];
      for (const [i, row] of rows.entries()) {
        const values = i % 2 === 0 ? Float32Array.from(row) : Float64Array.from(row);
        stored.push(values);
        const bytes = new Uint8Array(values.buffer);
        const upload = await connector.createModelUpdateUpload({
          federatedModel: model.id,
          client: clients[i]!,
          dtype: values instanceof Float32Array ? 'float32' : 'float64',
          shapes: [[values.length]],
          sha256: createHash('sha256').update(bytes).digest('hex'),
        });
        expect((await fetch(upload.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
        await connector.completeModelUpdateUpload(upload.id, clients[i]!);
      }
      const { values } = await aggregateOnce(model);
      const expected = new Float64Array(13);
      coordinateMedianBlock(stored.map((v) => Float64Array.from(v)), 13, expected, 0);
      expect(values).toEqual(expected);
      // The float32 updates count with their float32 values, not the float64 rows they came from.
      const fromRows = new Float64Array(13);
      coordinateMedianBlock(rows.map((row) => Float64Array.from(row)), 13, fromRows, 0);
      expect(values).not.toEqual(fromRows);
    });
  });

  describe('Krum and Multi-Krum', () => {
    it.each(fixtures.krum.cases.map((c) => [c.m, c] as const))('selects the %i update(s) NumPy selects and averages them', async (m, c) => {
      const aggregator = m === 1 ? 'krum' : 'multi_krum';
      const params = m === 1 ? { f: fixtures.krum.f, block_size: 3 } : { f: fixtures.krum.f, m, block_size: 3 };
      const { model, clients } = await newModel(fixtures.krum.updates.length, { aggregator, aggregatorParams: params });
      const updates = await send(model, clients, fixtures.krum.updates);
      const { aggregate, values } = await aggregateOnce(model);
      expectClose(values, c.expected);
      expect(aggregate.strategy?.selectedUpdates).toEqual(c.selected.map((index) => updates[index]));
      // Every update of the round counts as used, selected or not: none is aggregated again.
      const done = await connector.pullModelUpdates(updates);
      expect(done.every((update) => update.status === UpdateStatus.COMPLETE)).toBe(true);
    });

    it('waits, claiming nothing, while f is too large for the ready updates (n < 2f + 3)', async () => {
      const { model, clients } = await newModel(6, { aggregator: 'krum', aggregatorParams: { f: 2 } });
      const updates = await send(model, clients, fixtures.krum.updates.slice(0, 6));
      const result = await executeAggregationLocally({ model: model.id, run: nextRun() });
      expect(result).toMatchObject({ status: 'SUCCEEDED', finalState: 'NothingToAggregate' });
      expect(result.output).toMatchObject({ requirement: { met: false, reason: 'krum needs at least 7 updates; 6 are ready' } });
      expect(await connector.pullLatestModelAggregate(model)).toBeNull();
      const after = await connector.pullModelUpdates(updates);
      expect(after.every((update) => update.status === UpdateStatus.PENDING)).toBe(true);
    });
  });

  describe('server optimizers: state stored beside each aggregate', () => {
    it.each(fixtures.optimizers.cases.map((c) => [c.name, c] as const))(
      '%s: three rounds from the initial model equal NumPy; each round resumes from its parent\'s state',
      async (name, c) => {
        const { model, clients } = await newModel(3, { aggregator: name, aggregatorParams: c.params });
        await connector.createModelArtifact(model, '1.0.0', fixtures.optimizers.initial);
        let parent: ModelAggregate | null = null;
        const stateKeys: string[] = [];
        for (const round of c.rounds) {
          await send(model, clients, round.updates, parent?.id ?? null);
          const { aggregate, values } = await aggregateOnce(model);
          expect(aggregate.parent).toBe(parent?.id ?? null);
          expectClose(values, round.expected);
          const state = aggregate.strategy!.optimizerState!;
          expect(state).toMatchObject({ optimizer: name, length: 8, key: expect.stringMatching(new RegExp(`^optimizer-state/${model.id}/`)) });
          const moments = await readOptimizerState(getObjectStore(), state);
          expectClose(moments.m, round.m);
          if (round.v !== null) expectClose(moments.v!, round.v);
          stateKeys.push(state.key);
          parent = aggregate;
        }
        expect(new Set(stateKeys).size).toBe(3);
      },
    );

    it('FedAvgM with momentum 0 and learning rate 1 gives the plain mean, round after round', async () => {
      const rows = fixtures.coordinate.updates.slice(0, 3);
      const avgm = await newModel(3, { aggregator: 'fedavgm', aggregatorParams: { server_lr: 1, momentum: 0 } });
      const plain = await newModel(3, { aggregator: 'avg_values_if_data' });
      for (const { model } of [avgm, plain]) await connector.createModelArtifact(model, '1.0.0', fixtures.coordinate.updates[6]!);
      let parents: [number | null, number | null] = [null, null];
      for (let round = 0; round < 2; round += 1) {
        const shifted = rows.map((row) => row.map((value) => value + round));
        await send(avgm.model, avgm.clients, shifted, parents[0]);
        await send(plain.model, plain.clients, shifted, parents[1]);
        const a = await aggregateOnce(avgm.model);
        const b = await aggregateOnce(plain.model);
        expectClose(a.values, [...b.values]);
        expect(a.aggregate.strategy?.optimizerState?.optimizer).toBe('fedavgm');
        parents = [a.aggregate.id, b.aggregate.id];
      }
    });

    it('a failed run leaves the parent\'s state untouched, and the next run resumes from it', async () => {
      const c = fixtures.optimizers.cases.find((x) => x.name === 'fedadam')!;
      const { model, clients } = await newModel(3, { aggregator: 'fedadam', aggregatorParams: c.params });
      await connector.createModelArtifact(model, '1.0.0', fixtures.optimizers.initial);
      await send(model, clients, c.rounds[0]!.updates);
      const { aggregate: first } = await aggregateOnce(model);
      const parentState = first.strategy!.optimizerState!;
      const parentBytes = async () => {
        const bytes = new Uint8Array(parentState.byteSize);
        await getObjectStore().readInto(parentState.key, bytes);
        return createHash('sha256').update(bytes).digest('hex');
      };
      expect(await parentBytes()).toBe(parentState.sha256);

      await send(model, clients, c.rounds[1]!.updates, first.id);
      // The run fails where the optimizer reads the parent's weights (gone for a while): a bad
      // update would only be set aside, and the run would go on without it.
      const good = await getObjectStore().getStream(first.weights.key);
      const chunks: Buffer[] = [];
      for await (const chunk of good) chunks.push(chunk as Buffer);
      await getObjectStore().delete([first.weights.key]);
      expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'AggregationFailed' });
      expect((await connector.pullLatestModelAggregate(model))!.id).toBe(first.id);
      expect(await parentBytes()).toBe(parentState.sha256);

      await getObjectStore().put(first.weights.key, new Uint8Array(Buffer.concat(chunks)));
      const { aggregate, values } = await aggregateOnce(model);
      expect(aggregate.parent).toBe(first.id);
      expectClose(values, c.rounds[1]!.expected);
    });
  });

  describe('clipping and central DP', () => {
    it('clips each update\'s delta from the parent to clip_norm and records what it did', async () => {
      const { base, updates: rows, clip_norm: clipNorm, expected, clipped_updates: clipped } = fixtures.clipping;
      const { model, clients } = await newModel(rows.length, { aggregator: 'avg_values_if_data', aggregatorParams: { clip_norm: clipNorm } });
      await connector.createModelArtifact(model, '1.0.0', base);
      await send(model, clients, rows);
      const { aggregate, values } = await aggregateOnce(model);
      expectClose(values, expected);
      expect(aggregate.strategy).toMatchObject({ clipNorm, clippedUpdates: clipped, noiseMultiplier: null, noiseStd: null, numUpdates: rows.length });
    });

    it('adds Gaussian noise of σ = noise_multiplier × clip_norm / n to the mean, and records σ', async () => {
      const length = 20_000;
      const row = Array.from({ length }, (_, j) => Math.sin(j));
      const { model, clients } = await newModel(4, { aggregator: 'avg_values_if_data', aggregatorParams: { clip_norm: 1000, noise_multiplier: 0.8 } });
      await send(model, clients, [row, row, row, row]);
      const { aggregate, values } = await aggregateOnce(model);
      const sigma = (0.8 * 1000) / 4;
      expect(aggregate.strategy).toMatchObject({ clipNorm: 1000, noiseMultiplier: 0.8, noiseStd: sigma, numUpdates: 4, clippedUpdates: 0 });
      // The API shows the record with the aggregate (snake_case, as every field there).
      expect(modelAggregateJson(aggregate)).toMatchObject({
        strategy: { aggregator: 'avg_values_if_data', clip_norm: 1000, noise_multiplier: 0.8, noise_std: sigma, num_updates: 4, optimizer: null },
      });
      const residual = Array.from(values, (value, j) => value - row[j]!);
      const mean = residual.reduce((a, b) => a + b, 0) / length;
      const std = Math.sqrt(residual.reduce((a, b) => a + (b - mean) ** 2, 0) / length);
      expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(length));
      expect(Math.abs(std / sigma - 1)).toBeLessThan(0.03);
    });
  });

  describe('staleness weighting', () => {
    it.each([
      ['avg_values_if_data', null, fixtures.staleness.expected_mean],
      ['weighted_fedavg', fixtures.staleness.examples, fixtures.staleness.expected_fedavg],
    ] as const)('%s weighs an update τ rounds behind by (1 + τ)^−a, as NumPy does', async (aggregator, examples, expected) => {
      const { updates: rows, taus, exponent } = fixtures.staleness;
      const { model, clients } = await newModel(4, { aggregator, aggregatorParams: { staleness_exponent: exponent }, furthestBaseAgg: 10 });
      // Four rounds of one update each make the chain of levels 0..3.
      const chain: ModelAggregate[] = [];
      for (let level = 0; level < 4; level += 1) {
        await connector.createModelUpdate({
          federatedModel: model.id,
          client: clients[0]!,
          data: new Array(rows[0]!.length).fill(level),
          baseAggregate: chain.at(-1)?.id ?? null,
          numExamples: 1,
        });
        chain.push((await aggregateOnce(model)).aggregate);
      }
      for (const [i, row] of rows.entries()) {
        await connector.createModelUpdate({
          federatedModel: model.id,
          client: clients[i]!,
          data: [...row],
          baseAggregate: chain[3 - taus[i]!]!.id,
          numExamples: examples?.[i] ?? null,
        });
      }
      const { aggregate, values } = await aggregateOnce(model);
      expect(aggregate.level).toBe(4);
      expect(aggregate.strategy).toMatchObject({ stalenessExponent: exponent, numUpdates: 4 });
      expectClose(values, expected);
    });
  });

  describe('the deadline requirement', () => {
    it('waits for the deadline while some clients have not sent, then aggregates what came', async () => {
      const { model, clients } = await newModel(3, { aggregator: 'avg_values_if_data', requirement: 'deadline', requirementArgs: [2, 600] });
      const updates = await send(model, clients, [[1, 2], [3, 4]]);
      expect(await executeAggregationLocally({ model: model.id, run: nextRun() })).toMatchObject({ finalState: 'NothingToAggregate' });
      expect((await connector.pullModelUpdates(updates)).map((update) => update.status)).toEqual([UpdateStatus.PENDING, UpdateStatus.PENDING]);
      // Ten minutes later (the first update's arrival moved back): the deadline has passed.
      await database.db.collection('model_updates').updateOne({ _id: updates[0] as never }, { $set: { createdOn: new Date(Date.now() - 601_000) } });
      const { values } = await aggregateOnce(model);
      expect([...values]).toEqual([2, 3]);
    });

    it('aggregates before the deadline once every client has sent', async () => {
      const { model, clients } = await newModel(2, { aggregator: 'avg_values_if_data', requirement: 'deadline', requirementArgs: [5, 3600] });
      await send(model, clients, [[1], [2]]);
      expect([...(await aggregateOnce(model)).values]).toEqual([1.5]);
    });
  });

  describe('configuration through the HTTP API (POST /api/v1/models/)', () => {
    let token: string;
    beforeAll(async () => {
      token = (await connector.createDeveloper('strategist')).token;
    });

    const http = handlerApi(() => router);
    const api = (method: string, path: string, body: unknown) => http(method, path, { token, body });

    const createModel = (body: unknown) => api('POST', '/api/v1/models/', body);

    it('creates a model with a strategy and its parameters, and answers them back', async () => {
      const reply = await createModel({ name: 'robust', aggregator: 'trimmed_mean', aggregator_params: { beta: 0.1 } });
      expect(reply.status).toBe(201);
      expect(reply.body).toMatchObject({ aggregator: 'trimmed_mean', aggregator_params: { beta: 0.1 } });
      const plain = await createModel({ name: 'plain', aggregator: 'avg_values_if_data' });
      expect(plain).toMatchObject({ status: 201, body: { aggregator_params: null } });
    });

    it('changes the strategy with PATCH, with the checks of creation, and a refused change changes nothing', async () => {
      const created = await createModel({ name: 'changing', aggregator: 'trimmed_mean', aggregator_params: { beta: 0.1 } });
      const path = `/api/v1/models/${created.body.id as number}/`;
      expect(await api('PATCH', path, { aggregator_params: { beta: 0.2 } })).toMatchObject({ status: 200, body: { aggregator_params: { beta: 0.2 } } });
      // The old parameters do not fit the new strategy: 400, nothing changes.
      const refused = await api('PATCH', path, { aggregator: 'krum' });
      expect(refused.status).toBe(400);
      expect(refused.body['aggregator_params.f']).toBeDefined();
      expect(await connector.pullFederatedModelWId(created.body.id as number)).toMatchObject({ aggregator: 'trimmed_mean', aggregatorParams: { beta: 0.2 } });
      const changed = await api('PATCH', path, { aggregator: 'fedavgm', aggregator_params: { server_lr: 1, momentum: 0.9 } });
      expect(changed).toMatchObject({ status: 200, body: { aggregator: 'fedavgm', aggregator_params: { server_lr: 1, momentum: 0.9 } } });
      const model = await connector.pullFederatedModelWId(created.body.id as number);
      expect(model).toMatchObject({ aggregator: 'fedavgm', aggregatorParams: { server_lr: 1, momentum: 0.9 } });
      expect(await api('PATCH', path, { aggregator: 'avg_values_if_data', aggregator_params: null })).toMatchObject({
        status: 200,
        body: { aggregator: 'avg_values_if_data', aggregator_params: null },
      });
    });

    it.each([
      [{ aggregator: 'trimmed_mean', aggregator_params: { beta: 0.5 } }, 'aggregator_params.beta', /\[0, 0.5\)/],
      [{ aggregator: 'trimmed_mean' }, 'aggregator_params.beta', /.+/],
      [{ aggregator: 'krum', aggregator_params: { f: -1 } }, 'aggregator_params.f', /f must be an integer ≥ 0/],
      [{ aggregator: 'fedadam', aggregator_params: { server_lr: 0.1, beta1: 0.9, beta2: 0.99 } }, 'aggregator_params.tau', /.+/],
      [{ aggregator: 'fed_magic' }, 'aggregator', /must be one of avg_values_if_data/],
      [{ aggregator: 'avg_values_if_data', aggregator_params: { beta: 0.1 } }, 'aggregator_params', /beta/],
    ])('refuses %j with a 400 on the field and writes nothing', async (settings, field, message) => {
      const before = await database.db.collection('federated_models').countDocuments();
      const reply = await createModel({ name: 'refused', ...settings });
      expect(reply.status).toBe(400);
      expect(reply.body[field]).toEqual([expect.stringMatching(message)]);
      expect(await database.db.collection('federated_models').countDocuments()).toBe(before);
    });
  });
});
