import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { offlineClient, runAggregation, waitForRun } from '../helpers/offline-client';

const CLIENTS = 50;
const UPDATES_PER_CLIENT = 8;
const MODELS = 3;

/**
 * Load (issues #13 and #25), over real HTTP on loopback under serverless-offline: 50 concurrent
 * clients arrive at once on a cold service, register with 3 models and send 8 updates each with an
 * Idempotency-Key, retrying as the README tells them to, while the schedule aggregates every half
 * second and runs are forced at random. Afterwards the invariants are checked against what the
 * clients were told: every update answered 201 is stored once (one per Idempotency-Key) and is in
 * exactly one aggregate of its model; each model's aggregates form one chain, never a fork; each
 * aggregate's numbers are the mean of the updates recorded in it, as the clients sent them; no
 * lease is left behind.
 */
describe('50 concurrent clients, 3 models, scheduled and forced runs', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let client: ReturnType<typeof offlineClient>;
  let token: string;

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    token = (await connector.createDeveloper('load')).token;
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/load',
      readyTimeoutMs: 280_000,
    });
    client = offlineClient(offline);
  }, 300_000);
  afterAll(async () => {
    client?.lambda.destroy();
    await offline?.stop();
  });

  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
    const response = await fetch(`${offline.httpUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as any) };
  }

  /**
   * As the README tells a client to call: a request that timed out or failed (serverless-offline
   * answers its Lambda timeout as 200 with `errorType`, API Gateway as 504; 503 when the database
   * is away) is sent again, the same, up to 5 times, and so is one answered 409 because the first
   * request with its Idempotency-Key is still at work. Updates carry an Idempotency-Key, so a
   * retry never makes a second update.
   */
  async function callWithRetries(method: string, path: string, headers: Record<string, string>, body?: unknown) {
    for (let attempt = 1; ; attempt += 1) {
      const reply = await call(method, path, headers, body);
      const timedOut = reply.status >= 500 || (reply.body !== undefined && typeof reply.body === 'object' && 'errorType' in reply.body);
      const inProgress = reply.status === 409 && /still in progress|just abandoned/.test(String(reply.body?.detail));
      if ((!timedOut && !inProgress) || attempt === 5) return reply;
      retries += 1;
      if (inProgress) await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  let retries = 0;

  it('loses nothing, counts nothing twice and never forks a chain', async () => {
    const models: number[] = [];
    for (let m = 0; m < MODELS; m += 1) {
      const created = await call('POST', '/api/v1/models/', { authorization: `Token ${token}` }, { name: `load-${m}`, aggregator: 'avg_values_if_data', allow_aggregation: true });
      expect(created.status).toBe(201);
      models.push(created.body.id);
    }

    // No warm-up: all 50 clients arrive at once on a service whose instances are cold (issue #25:
    // serverless offline runs at most FMA_OFFLINE_MAX_INSTANCES instances of a function at once,
    // and the others wait their turn rather than start cold ones past the 15 s timeout).

    /** What the clients were told: update id → its model, the values it sent and its Idempotency-Key. */
    const accepted = new Map<number, { model: number; values: number[]; key: string }>();
    const runs: string[] = [];
    let sending = true;

    const clientLoop = async (index: number) => {
      const model = models[index % MODELS]!;
      const registered = await callWithRetries('POST', `/api/v1/models/${model}/register_client/`, {});
      if (registered.status !== 201) throw new Error(`register_client answered ${registered.status}: ${JSON.stringify(registered.body)}`);
      for (let u = 0; u < UPDATES_PER_CLIENT; u += 1) {
        const values = [index, u, index * UPDATES_PER_CLIENT + u];
        const key = `client-${index}-update-${u}`;
        const sent = await callWithRetries('POST', '/api/v1/model_updates/', { 'CLIENT-UUID': registered.body.uuid, 'Idempotency-Key': key }, { federated_model: model, data: values });
        expect(sent.status).toBe(201);
        // Two keys answered with one update would be one update counted twice.
        expect(accepted.has(sent.body.id)).toBe(false);
        accepted.set(sent.body.id, { model, values, key });
      }
    };
    const scheduleLoop = async () => {
      for (let minute = 0; sending; minute += 1) {
        const reply = await client.invoke('startScheduledAggregations', { time: `2026-11-30T03:${String(minute % 60).padStart(2, '0')}:00Z`, source: 'aws.events' });
        // A schedule that timed out under the load is only noise: the drain below settles all.
        if (reply.errorType === undefined) {
          for (const run of (reply.result as { runs: { run: string; started: boolean }[] }).runs) if (run.started) runs.push(run.run);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };
    const forcedLoop = async () => {
      while (sending) {
        const forced = await call('POST', '/aggregation/run', {}, { model: models[Math.floor(Math.random() * MODELS)] });
        if (forced.status === 200 && typeof forced.body?.run === 'string') runs.push(forced.body.run);
        await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 400));
      }
    };

    const loops = [scheduleLoop(), forcedLoop(), forcedLoop()];
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => clientLoop(i)));
    sending = false;
    await Promise.all(loops);
    // One run at a time: polling every run at once would itself be the load that times requests out.
    const ended = [];
    for (const run of runs) ended.push(await waitForRun(offline.httpUrl, run));
    expect(ended.filter((run) => run.status !== 'SUCCEEDED')).toEqual([]);
    // Drain: run each model until a run finds nothing to do (a run still going holds the lease).
    for (const model of models) {
      for (let attempt = 0; ; attempt += 1) {
        const drained = await runAggregation(offline.httpUrl, model);
        expect(drained.status).toBe('SUCCEEDED');
        if (drained.final_state === 'NothingToAggregate') break;
        if (attempt === 30) throw new Error(`model ${model} still had work after 30 runs`);
        if (drained.final_state === 'AnotherRunHoldsTheLease') await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }

    // Retries after timeouts, if any, made no second update (Idempotency-Key).
    if (retries > 0) console.log(`load test: ${retries} requests timed out under serverless-offline and were retried`);
    expect(accepted.size).toBe(CLIENTS * UPDATES_PER_CLIENT);
    const stored = await database.db.collection('model_updates').find({}).toArray();
    expect(stored).toHaveLength(accepted.size);
    // None duplicated: each Idempotency-Key made exactly one stored update, the one its client was told of.
    expect(new Set(stored.map((update) => `${update.client}/${update.idempotencyKey}`)).size).toBe(stored.length);
    for (const update of stored) expect(update.idempotencyKey).toBe(accepted.get(update._id as unknown as number)?.key);
    const aggregates = await database.db.collection('model_aggregates').find({}).toArray();
    const aggregateModel = new Map(aggregates.map((a) => [a._id as unknown as number, a.federatedModel as number]));
    const members = new Map<number, number[][]>();
    for (const update of stored) {
      const sent = accepted.get(update._id as unknown as number)!;
      // In exactly one aggregate (one field, one value), of its own model, and complete.
      expect({ id: update._id, status: update.status }).toEqual({ id: update._id, status: 2 });
      expect(aggregateModel.get(update.appliedAggregate)).toBe(sent.model);
      members.set(update.appliedAggregate, [...(members.get(update.appliedAggregate) ?? []), sent.values]);
    }
    for (const model of models) {
      const chain = aggregates.filter((a) => a.federatedModel === model).sort((a, b) => a.level - b.level);
      expect(chain.length).toBeGreaterThan(0);
      chain.forEach((aggregate, level) => {
        expect(aggregate.level).toBe(level);
        expect(aggregate.parent).toBe(level === 0 ? null : chain[level - 1]!._id);
      });
    }
    const connector = new MongoMetadataConnector(database.db);
    for (const aggregate of aggregates) {
      const used = members.get(aggregate._id as unknown as number) ?? [];
      expect(used.length).toBeGreaterThan(0);
      const mean = used[0]!.map((_, j) => used.reduce((sum, values) => sum + values[j]!, 0) / used.length);
      expect(await connector.pullModelAggregateResults(aggregate._id as unknown as number)).toEqual(mean);
    }
    expect(await database.db.collection('aggregation_leases').countDocuments()).toBe(0);
  }, 600_000);
});
