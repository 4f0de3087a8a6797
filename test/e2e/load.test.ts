import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { offlineClient, runAggregation, waitForRun } from '../helpers/offline-client';

const CLIENTS = 50;
const UPDATES_PER_CLIENT = 6;
const MODELS = 3;

/**
 * Load (issue #13), over real HTTP on loopback under serverless-offline: 50 concurrent clients
 * register with 3 models and send updates while the schedule aggregates every half second and runs
 * are forced at random. Afterwards the invariants are checked against what the clients were told:
 * every update answered 201 is in exactly one aggregate of its model; each model's aggregates form
 * one chain, never a fork; each aggregate's numbers are the mean of the updates recorded in it, as
 * the clients sent them; no lease is left behind.
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
   * As a real client calls: a request that times out (serverless-offline answers its Lambda
   * timeout as 200 with `errorType`, API Gateway as 504) is sent again, the same, up to 5 times.
   * Updates carry an Idempotency-Key, so a retry never makes a second update.
   */
  async function callWithRetries(method: string, path: string, headers: Record<string, string>, body?: unknown) {
    for (let attempt = 1; ; attempt += 1) {
      const reply = await call(method, path, headers, body);
      const timedOut = reply.status >= 500 || (reply.body !== undefined && typeof reply.body === 'object' && 'errorType' in reply.body);
      if (!timedOut || attempt === 5) return reply;
      retries += 1;
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

    // serverless-offline starts a worker thread (a cold start: the bundle, a MongoClient) for each
    // request that finds every worker busy. 50 cold starts at once on 2 cores outlast the
    // function's 15 s timeout, where on AWS each would be a Lambda instance of its own; so the pool
    // is grown in steps first, and the load below runs on warm workers.
    for (let size = 5; size <= CLIENTS; size += 5) {
      await Promise.all(Array.from({ length: size }, () => call('GET', `/api/v1/models/${models[0]}/`, { authorization: `Token ${token}` })));
    }

    /** What the clients were told: update id → its model and the values it sent. */
    const accepted = new Map<number, { model: number; values: number[] }>();
    const runs: string[] = [];
    let sending = true;

    const clientLoop = async (index: number) => {
      const model = models[index % MODELS]!;
      const registered = await callWithRetries('POST', `/api/v1/models/${model}/register_client/`, {});
      if (registered.status !== 201) throw new Error(`register_client answered ${registered.status}: ${JSON.stringify(registered.body)}`);
      for (let u = 0; u < UPDATES_PER_CLIENT; u += 1) {
        const values = [index, u, index * UPDATES_PER_CLIENT + u];
        const sent = await callWithRetries(
          'POST',
          '/api/v1/model_updates/',
          { 'CLIENT-UUID': registered.body.uuid, 'Idempotency-Key': `client-${index}-update-${u}` },
          { federated_model: model, data: values },
        );
        expect(sent.status).toBe(201);
        accepted.set(sent.body.id, { model, values });
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
