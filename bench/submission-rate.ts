/**
 * Benchmark: how fast clients can submit updates. First the latency of one submission on a
 * service that has just started (cold: the function's first instance loads and connects) and then
 * warm (the median of 20 more, one at a time); then C concurrent clients each post 100-float
 * updates (`POST /api/v1/model_updates/`, as FMA's clients do) through serverless-offline, one
 * after another, for a bounded time; prints updates/s and the p50/p95/p99 latency.
 *
 *   npm run bench                                   # via bench/run-all.ts: 10 and 50 clients
 *   npx tsx bench/submission-rate.ts                # 10 clients, 20 s, on the resolved database
 *   npx tsx bench/submission-rate.ts --clients 50 --seconds 15
 *   FERRETDB_BACKEND=sqlite npx tsx bench/submission-rate.ts
 *
 * The model does not allow aggregation, so no run is in flight. On our FerretDB launcher the
 * benchmark also counts every database command the service sent (FERRETDB_LAUNCHER_STATS: the
 * launcher's proxy counts them, with how long each waited for its database's turn and how long
 * FerretDB took) and divides them by the accepted submissions: commands per submission, counted.
 * Figures go to bench/results/submission-rate[-<clients>][-sqlite].json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create } from '../lib/connector';
import { resolveBenchServices } from './services';
import { startOffline } from '../scripts/offline';
import { writeResults } from './results-file';

interface CommandStats {
  command: string;
  collection: string;
  count: number;
  waitMs: number;
  executeMs: number;
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const clients = option('clients', 10);
  const seconds = option('seconds', 20);
  const floats = option('floats', 100);
  const warmupSeconds = 3;

  const statsDir = mkdtempSync(path.join(os.tmpdir(), 'fma-bench-'));
  const statsFile = path.join(statsDir, 'commands.json');
  process.env.FERRETDB_LAUNCHER_STATS = statsFile; // read by the launcher the resolver starts
  const services = await resolveBenchServices();
  const { database } = services;
  console.log(`database: ${database.description}; store: ${services.objectStore.description}`);
  let offline: Awaited<ReturnType<typeof startOffline>> | undefined;
  try {
    const databaseName = `bench_submissions_${Date.now()}`;
    const connector = create('MongoMetadataConnector', { connection_string: database.uri, database_name: databaseName });
    // Public ids make the model's members; each client authenticates with its credential.
    const clientIds: string[] = [];
    const credentials: string[] = [];
    let modelId: number;
    try {
      await connector.updateDatabase();
      for (let i = 0; i < clients; i += 1) {
        const created = await connector.createClient();
        clientIds.push(created.id);
        credentials.push(created.credential);
      }
      const model = await connector.createFederatedModel({
        name: 'submission bench',
        aggregator: 'avg_values_if_data',
        clients: clientIds,
        allowAggregation: false,
      });
      modelId = model.id;
    } finally {
      await connector.close();
    }

    offline = await startOffline({
      env: { MONGODB_URI: database.uri, MONGODB_DB_NAME: databaseName, AGGREGATION_EXECUTOR: 'local', ...services.storeEnv },
    });
    const url = `${offline.httpUrl}/api/v1/model_updates/`;
    const submit = async (client: string): Promise<number> => {
      const body = JSON.stringify({
        federated_model: modelId,
        data: Array.from({ length: floats }, () => Math.random()),
        base_aggregate: null,
      });
      const started = performance.now();
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'client-uuid': client }, body });
      const text = await response.text();
      if (response.status !== 201) throw new Error(`POST ${url} answered ${response.status}: ${text.slice(0, 300)}`);
      return performance.now() - started;
    };

    // One submission on the service as it started (the function's first instance loads its bundle
    // and connects), then 20 more one at a time, warm.
    const coldMs = await submit(credentials[0]!);
    const warm: number[] = [];
    for (let i = 0; i < 20; i += 1) warm.push(await submit(credentials[0]!));
    warm.sort((a, b) => a - b);
    const warmMs = percentile(warm, 50);
    // Warm-up, not measured: the callers join one by one, so that the pool of function instances
    // grows to C before the measurement (the burst bench, submission-burst.ts, starts cold).
    const warmupEnd = performance.now() + warmupSeconds * 1000 + clients * 300;
    await Promise.all(credentials.map(async (client, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 300));
      while (performance.now() < warmupEnd) await submit(client);
    }));

    const latencies: number[] = [];
    const started = performance.now();
    const end = started + seconds * 1000;
    await Promise.all(credentials.map(async (client) => {
      while (performance.now() < end) latencies.push(await submit(client));
    }));
    const elapsed = (performance.now() - started) / 1000;
    await offline.stop();
    offline = undefined;
    await database.stop(); // the launcher writes its command statistics as it stops
    const stats = readStats(statsFile);
    const commands = perUpdate(stats);
    const total = totalPerUpdate(stats);

    latencies.sort((a, b) => a - b);
    const figure = {
      clients,
      seconds: Number(elapsed.toFixed(1)),
      floats,
      updates: latencies.length,
      updatesPerSecond: Math.round(latencies.length / elapsed),
      p50Ms: Math.round(percentile(latencies, 50)),
      p95Ms: Math.round(percentile(latencies, 95)),
      p99Ms: Math.round(percentile(latencies, 99)),
      coldMs: Math.round(coldMs),
      warmMs: Math.round(warmMs),
      commandsPerSubmission: total,
      commandsPerUpdate: commands,
    };
    console.log(`one submission: cold ${figure.coldMs} ms (the service just started), warm ${figure.warmMs} ms (median of 20)`);
    console.log(
      `submissions, ${clients} clients, ${floats} floats each: ${figure.updatesPerSecond} updates/s ` +
        `(${figure.updates} in ${figure.seconds} s), p50 ${figure.p50Ms} ms, p95 ${figure.p95Ms} ms, p99 ${figure.p99Ms} ms`,
    );
    if (total !== null) {
      console.log(`database commands per accepted submission, counted by the launcher's proxy: ${total.toFixed(2)} (set-up and warm-up included)`);
      console.log('by command (per submission, wait for the database turn, FerretDB time):');
      for (const c of commands) {
        console.log(`  ${`${c.command} ${c.collection}`.padEnd(36)} ${c.perUpdate.toFixed(2)}x  wait ${c.waitMs.toFixed(2)} ms  execute ${c.executeMs.toFixed(2)} ms`);
      }
      const shown = new Set(commands.map((c) => `${c.command} ${c.collection}`));
      const rest = stats.filter((c) => !UPKEEP.has(c.command) && !shown.has(`${c.command} ${c.collection}`));
      console.log(
        `  the rest, ${rest.reduce((sum, c) => sum + c.count, 0)} in all (set-up, warm-up, the containers' cache reads and id blocks): ` +
          rest.map((c) => `${c.command} ${c.collection} ${c.count}`).join(', '),
      );
    }
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    if (clients === 10) {
      console.log(`target at 10 clients, >= 300 updates/s with p99 < 100 ms: ${met(figure.updatesPerSecond >= 300 && figure.p99Ms < 100)}`);
    }
    if (total !== null) {
      const path = commands.filter((c) => c.perUpdate >= 0.95).reduce((sum, c) => sum + c.perUpdate, 0);
      console.log(
        `target, 2 database commands per accepted submission: ${met(total <= 2.05)} (${total.toFixed(2)} counted in all; ` +
          `${path.toFixed(2)} sent by every submission, the rest by the set-up and the containers' cache re-reads and id blocks)`,
      );
    }
    const backend = database.launcher?.backend;
    const name = `submission-rate${clients === 10 ? '' : `-${clients}`}${backend === 'sqlite' ? '-sqlite' : ''}`;
    writeResults(name, database.description, [figure]);
  } finally {
    await offline?.stop();
    await services.stop();
    rmSync(statsDir, { recursive: true, force: true });
  }
}

/** The launcher's statistics, written as it stops (none unless the database is our launcher's). */
function readStats(file: string): CommandStats[] {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CommandStats[];
  } catch {
    return [];
  }
}

/**
 * Handshakes, heartbeats and connection upkeep: commands every driver sends on its own, whatever
 * the requests (the proxy counts them too).
 */
const UPKEEP = new Set(['hello', 'isMaster', 'ismaster', 'ping', 'buildInfo', 'buildinfo', 'saslStart', 'saslContinue', 'endSessions', 'killCursors', '(other)']);

/**
 * Every command but the drivers' upkeep, over the accepted submissions (the inserts into
 * model_updates): set-up (collections, indexes, the model and its clients) and warm-up included,
 * which at a few thousand submissions adds about 0.02. Null when the launcher kept no statistics.
 */
function totalPerUpdate(stats: CommandStats[]): number | null {
  const submissions = stats.find((c) => c.command === 'insert' && c.collection === 'model_updates')?.count ?? 0;
  if (submissions === 0) return null;
  const sent = stats.filter((c) => !UPKEEP.has(c.command)).reduce((sum, c) => sum + c.count, 0);
  return Number((sent / submissions).toFixed(2));
}

/**
 * Per submission: the launcher counts from its start, so the totals include the set-up and the
 * warm-up; they are divided by all inserts into model_updates (one per submission, warm-up's too).
 * Commands sent less than once per two submissions (set-up, heartbeats) are left out.
 */
function perUpdate(stats: CommandStats[]) {
  const submissions = stats.find((c) => c.command === 'insert' && c.collection === 'model_updates')?.count ?? 0;
  if (submissions === 0) return [];
  return stats
    .map((c) => ({
      command: c.command,
      collection: c.collection,
      perUpdate: Number((c.count / submissions).toFixed(2)),
      waitMs: Number((c.waitMs / c.count).toFixed(2)),
      executeMs: Number((c.executeMs / c.count).toFixed(2)),
    }))
    .filter((c) => c.perUpdate >= 0.5)
    .sort((a, b) => b.perUpdate * (b.waitMs + b.executeMs) - a.perUpdate * (a.waitMs + a.executeMs));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
