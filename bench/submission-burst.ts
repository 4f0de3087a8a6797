/**
 * Benchmark: the end of a round, when every client submits at once (issue #25). C clients (50)
 * each register with one of 3 models that allow aggregation, all at the same moment on a service
 * that has just started (cold), then send U updates (8) one after another, each with an
 * Idempotency-Key, retrying a request that timed out (or was answered 409 because its first try
 * is still at work) as the README tells clients to; meanwhile runs are forced on the models every
 * few hundred milliseconds (3 loops), as at a round's end.
 *
 *   npx tsx bench/submission-burst.ts                       # 50 clients x 8 updates
 *   npx tsx bench/submission-burst.ts --clients 20 --updates 4
 *
 * Prints the latency of registrations and submissions (p50/p95/p99/max), how many were answered
 * with serverless-offline's 15 s Lambda timeout, and whether any accepted update was lost or
 * stored twice (the database is checked against what the clients were told). Figures go to
 * bench/results/submission-burst.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { create } from '../lib/connector';
import { startOffline } from '../scripts/offline';
import { resolveBenchServices } from './services';
import { writeResults } from './results-file';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: Math.round(percentile(sorted, 50)),
    p95Ms: Math.round(percentile(sorted, 95)),
    p99Ms: Math.round(percentile(sorted, 99)),
    maxMs: Math.round(sorted.at(-1) ?? Number.NaN),
  };
}

const MODELS = 3;

async function main(): Promise<void> {
  const clients = option('clients', 50);
  const updatesPerClient = option('updates', 8);
  const statsDir = mkdtempSync(path.join(os.tmpdir(), 'fma-burst-'));
  const statsFile = path.join(statsDir, 'commands.json');
  process.env.FERRETDB_LAUNCHER_STATS = statsFile; // read by the launcher the resolver starts
  const services = await resolveBenchServices();
  const { database } = services;
  console.log(`database: ${database.description}; store: ${services.objectStore.description}`);
  let offline: Awaited<ReturnType<typeof startOffline>> | undefined;
  try {
    const databaseName = `bench_burst_${Date.now()}`;
    const connector = create('MongoMetadataConnector', { connection_string: database.uri, database_name: databaseName });
    const models: number[] = [];
    try {
      await connector.updateDatabase();
      for (let m = 0; m < MODELS; m += 1) {
        models.push((await connector.createFederatedModel({ name: `burst ${m}`, aggregator: 'avg_values_if_data', allowAggregation: true })).id);
      }
    } finally {
      await connector.close();
    }
    offline = await startOffline({
      env: { MONGODB_URI: database.uri, MONGODB_DB_NAME: databaseName, AGGREGATION_EXECUTOR: 'local', ...services.storeEnv },
      // --offline-log: serverless-offline's own lines (each invocation's Duration) go to stderr.
      inheritOutput: process.argv.includes('--offline-log'),
    });
    const base = offline.httpUrl;

    let timeouts = 0;
    let retries = 0;
    /** One request, sent again (the same) after a timeout, up to 5 times; each attempt's latency is kept. */
    const send = async (latencies: number[], method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      for (let attempt = 1; ; attempt += 1) {
        const started = performance.now();
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        latencies.push(performance.now() - started);
        const parsed = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
        // serverless-offline answers its Lambda timeout as 200 with `errorType`; API Gateway as 504.
        const timedOut = response.status >= 500 || (parsed !== undefined && 'errorType' in parsed);
        // The first request with this Idempotency-Key is still at work: asked again shortly.
        const inProgress = response.status === 409 && /still in progress|just abandoned/.test(text);
        if (timedOut) timeouts += 1;
        if ((!timedOut && !inProgress) || attempt === 5) return { status: response.status, body: parsed };
        retries += 1;
        if (inProgress) await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };

    const registrations: number[] = [];
    const submissions: number[] = [];
    const accepted = new Map<number, { client: string; key: string }>();
    const refused: string[] = [];
    let sending = true;
    const forced = async () => {
      while (sending) {
        const model = models[Math.floor(Math.random() * MODELS)]!;
        await fetch(`${base}/aggregation/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model }) }).then(
          (response) => response.text(),
          () => undefined,
        );
        await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 400));
      }
    };
    const started = performance.now();
    const loops = [forced(), forced(), forced()];
    await Promise.all(
      Array.from({ length: clients }, async (_, index) => {
        const model = models[index % MODELS]!;
        const registered = await send(registrations, 'POST', `/api/v1/models/${model}/register_client/`, {});
        if (registered.status !== 201) {
          refused.push(`register_client ${registered.status}`);
          return;
        }
        const credential = String(registered.body!.uuid);
        for (let u = 0; u < updatesPerClient; u += 1) {
          const key = `client-${index}-update-${u}`;
          const sent = await send(submissions, 'POST', '/api/v1/model_updates/', { 'CLIENT-UUID': credential, 'Idempotency-Key': key }, {
            federated_model: model,
            data: Array.from({ length: 100 }, () => Math.random()),
          });
          if (sent.status === 201) accepted.set(Number(sent.body!.id), { client: String(sent.body!.client), key });
          else refused.push(`model_updates ${sent.status} ${JSON.stringify(sent.body).slice(0, 200)}`);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    sending = false;
    await Promise.all(loops);

    // What the database holds against what the clients were told.
    const check = new MongoClient(database.uri);
    let stored: { _id: number; client: string; idempotencyKey?: string }[];
    try {
      stored = (await check.db(databaseName).collection('model_updates').find({}, { projection: { client: 1, idempotencyKey: 1 } }).toArray()) as never;
    } finally {
      await check.close();
    }
    const storedIds = new Set(stored.map((update) => update._id));
    const lost = [...accepted.keys()].filter((id) => !storedIds.has(id)).length;
    const perKey = new Map<string, number>();
    for (const update of stored) perKey.set(`${update.client}/${update.idempotencyKey}`, (perKey.get(`${update.client}/${update.idempotencyKey}`) ?? 0) + 1);
    const duplicated = [...perKey.values()].filter((n) => n > 1).length;

    const figure = {
      clients,
      updatesPerClient,
      seconds: Number(seconds.toFixed(1)),
      acceptedUpdates: accepted.size,
      acceptedPerSecond: Math.round(accepted.size / seconds),
      storedUpdates: stored.length,
      lost,
      duplicated,
      refused: refused.length,
      timeouts,
      retries,
      registrations: summary(registrations),
      submissions: summary(submissions),
    };
    console.log(
      `burst, ${clients} clients x ${updatesPerClient} updates, cold start, 3 loops forcing runs: ${figure.acceptedUpdates} accepted ` +
        `in ${figure.seconds} s (${figure.acceptedPerSecond}/s), ${timeouts} timed out (${retries} retried), ${lost} lost, ${duplicated} stored twice, ${refused.length} refused`,
    );
    console.log(`  registrations: p50 ${figure.registrations.p50Ms} ms, p95 ${figure.registrations.p95Ms} ms, p99 ${figure.registrations.p99Ms} ms, max ${figure.registrations.maxMs} ms`);
    console.log(`  submissions:   p50 ${figure.submissions.p50Ms} ms, p95 ${figure.submissions.p95Ms} ms, p99 ${figure.submissions.p99Ms} ms, max ${figure.submissions.maxMs} ms`);
    for (const reason of refused.slice(0, 5)) console.log(`  refused: ${reason}`);
    const slowest = figure.submissions.maxMs;
    console.log(`  target: no submission slower than 5 s and none lost: ${slowest <= 5_000 && lost === 0 && timeouts === 0 ? 'met' : 'MISSED'}`);
    await offline.stop();
    offline = undefined;
    await database.stop(); // the launcher writes its command statistics as it stops
    const waits = readWaits(statsFile);
    if (waits.length > 0) {
      console.log('  database commands that waited longest for their turn in the serializing proxy (count, mean wait, mean FerretDB time):');
      for (const c of waits.slice(0, 6)) {
        console.log(`    ${`${c.command} ${c.collection}`.padEnd(36)} ${String(c.count).padStart(6)}  wait ${c.meanWaitMs.toFixed(1)} ms  execute ${c.meanExecuteMs.toFixed(1)} ms (max ${c.maxExecuteMs.toFixed(0)} ms)`);
      }
    }
    writeResults('submission-burst', database.description, [{ ...figure, commands: waits }]);
  } finally {
    await offline?.stop();
    await services.stop();
    rmSync(statsDir, { recursive: true, force: true });
  }
}

/** The launcher's statistics (none unless the database is our launcher's), longest total wait first. */
function readWaits(file: string) {
  let stats: { command: string; collection: string; count: number; waitMs: number; executeMs: number; maxExecuteMs: number }[];
  try {
    stats = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  return stats
    .map((c) => ({
      command: c.command,
      collection: c.collection,
      count: c.count,
      meanWaitMs: Number((c.waitMs / c.count).toFixed(2)),
      meanExecuteMs: Number((c.executeMs / c.count).toFixed(2)),
      maxExecuteMs: c.maxExecuteMs,
      totalWaitMs: Math.round(c.waitMs),
    }))
    .sort((a, b) => b.totalWaitMs - a.totalWaitMs);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
