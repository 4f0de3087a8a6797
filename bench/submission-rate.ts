/**
 * Benchmark: how fast clients can submit updates. C concurrent clients each post 100-float
 * updates (`POST /api/v1/model_updates/`, as FMA's clients do) through serverless-offline, one
 * after another, for a bounded time; prints updates/s and the p50/p99 latency.
 *
 *   npm run bench                                   # via bench/run-all.ts, both FerretDB backends
 *   npx tsx bench/submission-rate.ts                # 10 clients, 20 s, on the resolved database
 *   npx tsx bench/submission-rate.ts --clients 50 --seconds 30
 *   FERRETDB_BACKEND=sqlite npx tsx bench/submission-rate.ts
 *
 * The model does not allow aggregation, so no run is in flight. On our FerretDB launcher the
 * benchmark also records, per database command, how often it was sent, how long it waited for its
 * database's turn in the serializing proxy and how long FerretDB took (FERRETDB_LAUNCHER_STATS),
 * and prints that breakdown per submission. Figures go to bench/results/submission-rate[-sqlite].json.
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

    // Warm-up, not measured: the first call builds and loads the function; then the callers join
    // one by one, since serverless-offline starts a function instance (a cold start) for each
    // concurrent request, and many cold starts at once on a small machine pass the 15 s timeout.
    await submit(credentials[0]!);
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
    const commands = perUpdate(readStats(statsFile));

    latencies.sort((a, b) => a - b);
    const figure = {
      clients,
      seconds: Number(elapsed.toFixed(1)),
      floats,
      updates: latencies.length,
      updatesPerSecond: Math.round(latencies.length / elapsed),
      p50Ms: Math.round(percentile(latencies, 50)),
      p99Ms: Math.round(percentile(latencies, 99)),
      commandsPerUpdate: commands,
    };
    console.log(
      `submissions, ${clients} clients, ${floats} floats each: ${figure.updatesPerSecond} updates/s ` +
        `(${figure.updates} in ${figure.seconds} s), p50 ${figure.p50Ms} ms, p99 ${figure.p99Ms} ms`,
    );
    if (commands.length > 0) {
      console.log('per update, by database command (count, wait for the database turn, FerretDB time):');
      for (const c of commands) {
        console.log(`  ${`${c.command} ${c.collection}`.padEnd(36)} ${c.perUpdate.toFixed(2)}x  wait ${c.waitMs.toFixed(2)} ms  execute ${c.executeMs.toFixed(2)} ms`);
      }
    }
    const backend = database.launcher?.backend;
    writeResults(backend === 'sqlite' ? 'submission-rate-sqlite' : 'submission-rate', database.description, [figure]);
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
