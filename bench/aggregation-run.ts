/**
 * Benchmark: one whole aggregation run (the deployed state machine, executed by the local
 * executor: lease, pulls, claim, streamed aggregation, record, complete, release) over N updates
 * of P float64 parameters each, read from the object store and the database.
 *
 *   npm run bench                                   # all benchmarks (bench/run-all.ts)
 *   npx tsx bench/aggregation-run.ts                # this one: 10x100k, 100x100k, 10x1M, 100x1M
 *   npx tsx bench/aggregation-run.ts 10x100000      # other sizes (N x P)
 *
 * The parent seeds each case (not timed), then runs it in a fresh child process, so that the
 * peak RSS is the run's own. The child also times the aggregation kernel (`accumulate`) against a
 * read-only pass over the same buffers, which says how close to memory speed the kernel is. The
 * parent checks the aggregate bit for bit against a sum it kept while seeding. Figures go to
 * bench/results/aggregation-run.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { accumulate } from '../lib/algorithms';
import { MongoMetadataConnector } from '../lib/connector';
import { gitCommit, runInChild } from './child-run';
import { resolveBenchServices } from './services';

/** Targets of issue #9, beside FMA's figures on this machine. */
const TARGETS: Record<string, { seconds?: number; rssMiB?: number; fma: string }> = {
  '10x100000': { seconds: 0.39, fma: '0.39 s, 134 MiB' },
  '100x100000': { fma: '3.9 s, 547 MiB' },
  '10x1000000': { fma: '(not measured)' },
  '100x1000000': { seconds: 3.4, rssMiB: 475, fma: '34 s, 4.75 GiB' },
};
const KERNEL_TARGET = 0.7;

interface ChildResult {
  finalState: string;
  wallSeconds: number;
  peakRssMiB: number;
  kernelGBps: number;
  readOnlyGBps: number;
  aggregate: number;
}

async function child(): Promise<void> {
  const [model, updates, parameters] = process.argv.slice(3).map(Number) as [number, number, number];
  const { executeAggregationLocally } = await import('../functions/aggregation/local-executor');
  const started = performance.now();
  const result = await executeAggregationLocally({ model, run: `bench-${Date.now()}` });
  const wallSeconds = (performance.now() - started) / 1000;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const output = result.output as { aggregate?: { id: number } } | undefined;
  const { kernelGBps, readOnlyGBps } = kernelFigures(updates, parameters);
  const figures: ChildResult = {
    finalState: result.finalState,
    wallSeconds,
    peakRssMiB,
    kernelGBps,
    readOnlyGBps,
    aggregate: output?.aggregate?.id ?? -1,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
}

/** GB/s of the kernel and of a read-only pass over the same 4 reused buffers (as the run uses). */
function kernelFigures(updates: number, parameters: number): { kernelGBps: number; readOnlyGBps: number } {
  const buffers = Array.from({ length: 4 }, (_, b) => Float64Array.from({ length: parameters }, (_, i) => (i % 97) * 0.5 + b));
  const sum = new Float64Array(parameters);
  const bytes = updates * parameters * 8;
  const time = (pass: (values: Float64Array) => void) => {
    const started = performance.now();
    for (let i = 0; i < updates; i += 1) pass(buffers[i % 4]!);
    return bytes / ((performance.now() - started) / 1000) / 1e9;
  };
  let sink = 0;
  const readOnly = (values: Float64Array) => {
    let total = 0;
    for (let j = 0; j < values.length; j += 1) total += values[j]!;
    sink += total;
  };
  // Warm both loops up first, so both are measured compiled.
  time(readOnly);
  time((values) => accumulate(sum, values, 1));
  const readOnlyGBps = time(readOnly);
  const kernelGBps = time((values) => accumulate(sum, values, 1));
  if (Number.isNaN(sink + sum[0]!)) throw new Error('unreachable: keeps the passes from being optimized away');
  return { kernelGBps, readOnlyGBps };
}

async function parent(): Promise<void> {
  const cases = (process.argv.slice(2).filter((arg) => /^\d+x\d+$/.test(arg)).length > 0
    ? process.argv.slice(2).filter((arg) => /^\d+x\d+$/.test(arg))
    : Object.keys(TARGETS)
  ).map((spec) => spec.split('x').map(Number) as [number, number]);

  const services = await resolveBenchServices();
  const { database, objectStore, store } = services;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`aggregation run: database ${database.description}; store ${objectStore.description}; ${machine}`);
  const client = await new MongoClient(database.uri).connect();
  const results = [];
  try {
    for (const [updates, parameters] of cases) {
      const name = `bench_agg_${updates}x${parameters}_${Date.now()}`;
      const connector = new MongoMetadataConnector(client.db(name), { store });
      await connector.updateDatabase();
      const members = await Promise.all(Array.from({ length: Math.min(updates, 10) }, () => connector.createClient()));
      const model = await connector.createFederatedModel({
        name,
        aggregator: 'avg_values_if_data',
        clients: members.map((member) => member.id),
      });
      // Seed (not timed), keeping the sum the run must reproduce exactly: same values, same order.
      const expected = new Float64Array(parameters);
      for (let u = 0; u < updates; u += 1) {
        const values = Float64Array.from({ length: parameters }, (_, i) => Math.sin(u * 7919 + i) * 10);
        accumulate(expected, values, 1);
        await connector.createModelUpdate({ federatedModel: model.id, client: members[u % members.length]!.id, data: Array.from(values) });
      }
      for (let i = 0; i < parameters; i += 1) expected[i]! /= updates;

      const figures = await runChild(model.id, updates, parameters, {
        MONGODB_URI: database.uri,
        MONGODB_DB_NAME: name,
        ...services.storeEnv,
        AGGREGATION_EXECUTOR: 'local',
      });
      if (figures.finalState !== 'Aggregated') throw new Error(`${updates}x${parameters}: the run ended ${figures.finalState}`);
      const aggregate = (await connector.pullModelAggregateWeights(figures.aggregate))!.values;
      const exact = aggregate.length === parameters && aggregate.every((value, i) => Object.is(value, expected[i]));
      const inputGBps = (updates * parameters * 8) / figures.wallSeconds / 1e9;
      const key = `${updates}x${parameters}`;
      const target = TARGETS[key];
      const verdict = [
        target?.seconds === undefined ? '' : `${figures.wallSeconds <= target.seconds ? 'meets' : 'MISSES'} ${target.seconds} s`,
        target?.rssMiB === undefined ? '' : `${figures.peakRssMiB <= target.rssMiB ? 'meets' : 'MISSES'} ${target.rssMiB} MiB`,
        `kernel/read-only ${(figures.kernelGBps / figures.readOnlyGBps).toFixed(2)} ${figures.kernelGBps / figures.readOnlyGBps >= KERNEL_TARGET ? 'meets' : 'MISSES'} ${KERNEL_TARGET}`,
      ].filter(Boolean);
      console.log(
        `${String(updates).padStart(4)} x ${parameters.toLocaleString('en-US').padStart(9)}: ` +
          `${figures.wallSeconds.toFixed(2)} s, peak RSS ${figures.peakRssMiB.toFixed(0)} MiB, input ${inputGBps.toFixed(3)} GB/s; ` +
          `kernel ${figures.kernelGBps.toFixed(2)} GB/s vs read-only ${figures.readOnlyGBps.toFixed(2)} GB/s; ` +
          `aggregate ${exact ? 'exact' : 'WRONG'}; FMA ${target?.fma ?? '-'}; ${verdict.join(', ')}`,
      );
      if (!exact) process.exitCode = 1;
      results.push({ updates, parameters, ...figures, inputGBps, exact, target: target ?? null });
      await client.db(name).dropDatabase();
    }
  } finally {
    await client.close();
    await services.stop();
  }
  const file = path.join(__dirname, 'results', 'aggregation-run.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ measuredOn: new Date().toISOString(), machine, database: database.description, store: objectStore.description, commit: gitCommit(), results }, null, 2)}\n`,
  );
  console.log(`figures written to ${path.relative(process.cwd(), file)}`);
}

function runChild(model: number, updates: number, parameters: number, env: Record<string, string>): Promise<ChildResult> {
  return runInChild<ChildResult>(__filename, [String(model), String(updates), String(parameters)], env);
}

(process.argv[2] === '--child' ? child() : parent()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
