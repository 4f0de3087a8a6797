/**
 * Benchmark: registering (claiming) N pending updates for one aggregation run, as one call of
 * `register_model_updates_for_aggregation`. Prints wall time and database round trips (commands
 * sent, counted with the driver's command monitoring) for each size.
 *
 *   npm run bench                              # 10,000 and 100,000 updates (via bench/run-all.ts)
 *   npx tsx bench/register-updates.ts 1000 5000  # other sizes
 *
 * The database comes from the same resolver as the tests (`FERRETDB_BACKEND=sqlite` for FerretDB's
 * SQLite backend). On FerretDB v1 our launcher serializes commands and SQLite pushes down no filter
 * but `_id`, so its times are far slower than MongoDB's; the round-trip counts are the same on all.
 * Figures go to bench/results/register-updates[-sqlite].json.
 */
import { MongoClient } from 'mongodb';
import { MongoMetadataConnector } from '../lib/connector';
import { resolveBenchServices } from './services';
import { writeResults } from './results-file';

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).filter((arg) => /^\d+$/.test(arg)).map(Number);
  const services = await resolveBenchServices();
  const { database } = services;
  console.log(`database: ${database.description}`);
  const figures: { updates: number; seconds: number; roundTrips: number; loadSeconds: number }[] = [];
  const client = new MongoClient(database.uri, { monitorCommands: true });
  let commands = 0;
  client.on('commandStarted', () => {
    commands += 1;
  });
  try {
    await client.connect();
    for (const size of sizes.length > 0 ? sizes : [10_000, 100_000]) {
      const db = client.db(`bench_register_${size}_${Date.now()}`);
      const connector = new MongoMetadataConnector(db, { store: services.store });
      await connector.updateDatabase();
      const member = (await connector.createClient()).id;
      const model = await connector.createFederatedModel({ name: `bench ${size}`, aggregator: 'avg_values_if_data', clients: [member] });

      const loadStarted = performance.now();
      const ids: number[] = [];
      for (let offset = 0; offset < size; offset += 10_000) {
        const batch = Math.min(10_000, size - offset);
        const created = await connector.createModelUpdates(
          Array.from({ length: batch }, (_, i) => ({ federatedModel: model.id, client: member, data: [offset + i, 1, 2, 3] })),
        );
        ids.push(...created.map((update) => update.id));
      }
      const loadSeconds = (performance.now() - loadStarted) / 1000;

      commands = 0;
      const started = performance.now();
      const result = await connector.registerModelUpdatesForAggregation(ids, { model: model.id, run: 'bench-run' });
      const seconds = (performance.now() - started) / 1000;
      const roundTrips = commands;
      if (result.claimed.length !== size) throw new Error(`claimed ${result.claimed.length} of ${size}`);

      console.log(
        `register ${size.toLocaleString('en-US')} updates: ${seconds.toFixed(2)} s, ${roundTrips} round trips ` +
          `(${Math.round(size / seconds).toLocaleString('en-US')} updates/s; loading them took ${loadSeconds.toFixed(1)} s)`,
      );
      figures.push({ updates: size, seconds: Number(seconds.toFixed(2)), roundTrips, loadSeconds: Number(loadSeconds.toFixed(1)) });
      writeResults(resultsName(database.launcher?.backend), database.description, figures);
      await db.dropDatabase();
    }
  } finally {
    await client.close();
    await services.stop();
  }
}

/** One results file per FerretDB backend, so both can be kept side by side. */
function resultsName(backend: string | undefined): string {
  return backend === 'sqlite' ? 'register-updates-sqlite' : 'register-updates';
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
