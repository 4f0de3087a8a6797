/**
 * Benchmark: whole aggregation runs (the deployed state machine by the local executor) with each
 * strategy of issue #11 over N updates of P float64 values read from the object store, beside the
 * plain mean, each run in a fresh process so that its peak RSS is its own.
 *
 *   npx tsx bench/aggregation-strategies.ts              # 100 x 1M (the size)
 *   npx tsx bench/aggregation-strategies.ts 10x100000    # another size
 *
 * The updates are seeded once (not timed), with a parent aggregate (the server optimizers and
 * clipping step from it); between strategies the model's aggregator changes and the updates go
 * back to PENDING. The median and trimmed mean are spot-checked at a few coordinates against
 * values the parent computes itself. Figures go to bench/results/aggregation-strategies.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoMetadataConnector } from '../lib/connector';
import { collections } from '../lib/db/collections';
import { UpdateStatus } from '../lib/entities';
import { type AggregationRunFigures, aggregateInThisProcess, gitCommit, runInChild } from './child-run';
import { resolveBenchServices } from './services';

/** The strategies measured; Krum's f is 10 (or what N allows: n ≥ 2f + 3), Multi-Krum keeps half. */
const strategies = (n: number): readonly { aggregator: string; params: Record<string, unknown> | null; label: string }[] => {
  const f = Math.min(10, Math.floor((n - 3) / 2));
  const m = Math.max(1, Math.min(Math.floor(n / 2), n - f));
  return [
  { aggregator: 'avg_values_if_data', params: null, label: 'mean (streamed)' },
  { aggregator: 'coordinate_median', params: null, label: 'coordinate median' },
  { aggregator: 'trimmed_mean', params: { beta: 0.1 }, label: 'trimmed mean, β = 0.1' },
  { aggregator: 'krum', params: { f }, label: `Krum, f = ${f}` },
  { aggregator: 'multi_krum', params: { f, m }, label: `Multi-Krum, f = ${f}, m = ${m}` },
  { aggregator: 'fedadam', params: { server_lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 }, label: 'FedAdam' },
  { aggregator: 'fedavgm', params: { server_lr: 1, momentum: 0.9 }, label: 'FedAvgM' },
  { aggregator: 'avg_values_if_data', params: { clip_norm: 100, noise_multiplier: 1 }, label: 'mean, clipped + DP noise' },
  ];
};

const valueAt = (u: number, i: number) => Math.sin(u * 7919 + i) * 10;

async function parent(): Promise<void> {
  const [updates, parameters] = (process.argv.slice(2).find((arg) => /^\d+x\d+$/.test(arg)) ?? '100x1000000').split('x').map(Number) as [number, number];
  const only = process.argv.slice(2).find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
  const services = await resolveBenchServices();
  const { database, objectStore, store } = services;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`aggregation strategies at ${updates} x ${parameters}: database ${database.description}; store ${objectStore.description}; ${machine}`);
  const client = await new MongoClient(database.uri).connect();
  const name = `bench_strat_${updates}x${parameters}_${Date.now()}`;
  const results = [];
  try {
    const connector = new MongoMetadataConnector(client.db(name), { store });
    await connector.updateDatabase();
    const members = await Promise.all(Array.from({ length: Math.min(updates, 10) }, () => connector.createClient()));
    const model = await connector.createFederatedModel({ name, aggregator: 'avg_values_if_data', clients: members.map((m) => m.id) });
    const parentAggregate = await connector.postNewModelAggregateWeights(model, null, {
      layout: 'vector',
      shapes: [[parameters]],
      values: Float64Array.from({ length: parameters }, (_, i) => Math.cos(i)),
    });
    const seeded = performance.now();
    for (let u = 0; u < updates; u += 1) {
      const data = Array.from({ length: parameters }, (_, i) => valueAt(u, i));
      await connector.createModelUpdate({ federatedModel: model.id, client: members[u % members.length]!.id, data, baseAggregate: parentAggregate.id });
    }
    console.log(`seeded ${updates} updates in ${((performance.now() - seeded) / 1000).toFixed(0)} s`);
    const { modelUpdates, modelAggregates } = collections(client.db(name));

    for (const strategy of strategies(updates).filter((s) => only === undefined || s.label.includes(only))) {
      await modelUpdates.updateMany(
        { federatedModel: model.id },
        { $set: { status: UpdateStatus.PENDING, claimedBy: null, claimedAt: null, appliedAggregate: null, statusReason: null } },
      );
      await modelAggregates.deleteMany({ federatedModel: model.id, _id: { $ne: parentAggregate.id } });
      await connector.updateFederatedModel(model, { aggregator: strategy.aggregator, aggregatorParams: strategy.params });
      const figures = await runChild(model.id, {
        MONGODB_URI: database.uri,
        MONGODB_DB_NAME: name,
        ...services.storeEnv,
        AGGREGATION_EXECUTOR: 'local',
      });
      if (figures.finalState !== 'Aggregated') throw new Error(`${strategy.label}: the run ended ${figures.finalState}`);
      const values = (await connector.pullModelAggregateWeights(figures.aggregate))!.values;
      const check = spotCheck(strategy.aggregator, strategy.params, values, updates);
      const inputGBps = (updates * parameters * 8) / figures.wallSeconds / 1e9;
      console.log(
        `${strategy.label.padEnd(28)} ${figures.wallSeconds.toFixed(2).padStart(7)} s, peak RSS ${figures.peakRssMiB.toFixed(0).padStart(5)} MiB, ` +
          `input ${inputGBps.toFixed(3)} GB/s; ${check}`,
      );
      if (check.startsWith('WRONG')) process.exitCode = 1;
      results.push({ strategy: strategy.label, aggregator: strategy.aggregator, params: strategy.params, ...figures, inputGBps, check });
    }
  } finally {
    await client.db(name).dropDatabase();
    await client.close();
    await services.stop();
  }
  const file = path.join(__dirname, 'results', 'aggregation-strategies.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ measuredOn: new Date().toISOString(), machine, updates, parameters, database: database.description, store: objectStore.description, commit: gitCommit(), results }, null, 2)}\n`,
  );
  console.log(`figures written to ${path.relative(process.cwd(), file)}`);
}

/** The median and trimmed mean at a few coordinates, computed here from the seeding formula. */
function spotCheck(aggregator: string, params: Record<string, unknown> | null, values: Float64Array, updates: number): string {
  if (!values.every(Number.isFinite)) return 'WRONG: not finite';
  if (aggregator !== 'coordinate_median' && aggregator !== 'trimmed_mean') return 'finite';
  for (const i of [0, 1, 12_345 % values.length, values.length - 1]) {
    const column = Float64Array.from({ length: updates }, (_, u) => valueAt(u, i)).sort();
    let expected: number;
    if (aggregator === 'coordinate_median') {
      const half = updates >> 1;
      expected = updates % 2 === 1 ? column[half]! : (column[half - 1]! + column[half]!) / 2;
    } else {
      const trim = Math.floor((params!.beta as number) * updates);
      let sum = 0;
      for (let u = trim; u < updates - trim; u += 1) sum += column[u]!;
      expected = sum / (updates - 2 * trim);
    }
    // The median picks values (exact); the trimmed mean sums the kept values in selection order, not sorted.
    const tolerance = aggregator === 'coordinate_median' ? 0 : 1e-12 * Math.max(1, Math.abs(expected));
    if (!(Math.abs(values[i]! - expected) <= tolerance)) return `WRONG at ${i}: ${values[i]} vs ${expected}`;
  }
  return aggregator === 'coordinate_median' ? 'spot-checked exact' : 'spot-checked to 1e-12';
}

function runChild(model: number, env: Record<string, string>): Promise<AggregationRunFigures> {
  return runInChild<AggregationRunFigures>(__filename, [String(model)], env);
}

(process.argv[2] === '--child' ? aggregateInThisProcess(Number(process.argv[3])) : parent()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
