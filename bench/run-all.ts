/**
 * `npm run bench`: runs each benchmark in a fresh process, one after another, and prints their
 * figures (each also writes them to bench/results/<name>.json). Add a benchmark by adding a line.
 *
 *   npm run bench                  # everything below
 *   npm run bench -- submission    # only the benchmarks whose name contains "submission"
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

interface Benchmark {
  readonly name: string;
  readonly script: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

const BENCHMARKS: readonly Benchmark[] = [
  // Whole aggregation runs from the store and the database: 10x100k, 100x100k, 10x1M, 100x1M.
  { name: 'aggregation run', script: 'aggregation-run.ts' },
  // The strategies of issue #11 (median, trimmed mean, Krum, optimizers, DP) at 100x1M, beside the mean.
  { name: 'aggregation strategies', script: 'aggregation-strategies.ts' },
  // Issue #14: the single task against K shards (each in its own process) at 100x1M and 4x80M float32.
  { name: 'sharded aggregation', script: 'sharded-aggregation.ts' },
  // Issue #26: 100x1M in float64, float32, float16, bfloat16 and int8 (100x10M: `npx tsx bench/encoded-aggregation.ts --full`; full: true).
  { name: 'encoded aggregation', script: 'encoded-aggregation.ts' },
  // Claims of 10,000 and 100,000 updates (FerretDB on SQLite needs hours for 100,000: not run here).
  { name: 'claims', script: 'register-updates.ts', args: ['10000', '100000'] },
  // Refusing an unknown token or client credential against accepting a known one (issue #13).
  { name: 'credential timing', script: 'credential-timing.ts' },
  // Executions, states and Lambda invocations of the triggers, before and after issue #19.
  { name: 'trigger cost', script: 'trigger-cost.ts' },
  { name: 'submission rate', script: 'submission-rate.ts', args: ['--clients', '10', '--seconds', '20'] },
  {
    name: 'submission rate (FerretDB on SQLite)',
    script: 'submission-rate.ts',
    args: ['--clients', '10', '--seconds', '20'],
    env: { FERRETDB_BACKEND: 'sqlite' },
  },
];

const filter = process.argv[2];
const tsx = path.join(__dirname, '..', 'node_modules', '.bin', 'tsx');
let failed = 0;
for (const benchmark of BENCHMARKS.filter((b) => filter === undefined || b.name.includes(filter))) {
  console.log(`\n== ${benchmark.name}`);
  const started = performance.now();
  const run = spawnSync(tsx, [path.join(__dirname, benchmark.script), ...(benchmark.args ?? [])], {
    stdio: 'inherit',
    env: { ...process.env, ...benchmark.env },
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (run.status !== 0) {
    failed += 1;
    console.log(`== ${benchmark.name}: FAILED (${run.status ?? run.signal}) after ${seconds} s`);
  } else {
    console.log(`== ${benchmark.name}: done in ${seconds} s`);
  }
}
process.exit(failed === 0 ? 0 : 1);
