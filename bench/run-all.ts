/**
 * `npm run bench`: runs each benchmark in a fresh process, one after another, and prints their
 * figures (each also writes them to bench/results/<name>.json). Add a benchmark by adding a line.
 * By default it runs those that finish within about 15 minutes together on a 2-core machine; the
 * slow ones (claims of 100,000 updates, trigger cost, sharded aggregation, the SQLite backend) run
 * with `--full` as well.
 *
 *   npm run bench                       # the default set (issue #25: at most 15 minutes here)
 *   npm run bench -- --full             # everything below
 *   npm run bench -- submission         # only the benchmarks whose name contains "submission"
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

interface Benchmark {
  readonly name: string;
  readonly script: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Only with `--full`: too slow for the default run. */
  readonly full?: boolean;
}

const full = process.argv.includes('--full');

const BENCHMARKS: readonly Benchmark[] = [
  // Whole aggregation runs from the store and the database: 10x100k, 100x100k, 10x1M, 100x1M.
  { name: 'aggregation run', script: 'aggregation-run.ts' },
  // The strategies of issue #11 (median, trimmed mean, Krum, optimizers, DP) at 100x1M, beside the mean.
  { name: 'aggregation strategies', script: 'aggregation-strategies.ts' },
  // Issue #14: the single task against K shards (each in its own process) at 100x1M and 4x80M float32.
  { name: 'sharded aggregation', script: 'sharded-aggregation.ts', full: true },
  // Issue #26: 100x1M in float64, float32, float16, bfloat16 and int8, about 8 minutes (100x10M: `npx tsx bench/encoded-aggregation.ts --full`).
  { name: 'encoded aggregation', script: 'encoded-aggregation.ts', full: true },
  // Claims of 10,000 updates, and of 100,000 with --full (40 minutes on PostgreSQL; FerretDB on SQLite needs hours).
  { name: 'claims', script: 'register-updates.ts', args: full ? ['10000', '100000'] : ['10000'] },
  // Issue #27: each deployed bundle's module-init time (packages the service first).
  { name: 'function init', script: 'function-init.ts' },
  // Issue #24: a 2 GiB upload completed by the verification function.
  { name: 'large upload', script: 'large-upload.ts', full: true },
  // Refusing an unknown token or client credential against accepting a known one (issue #13).
  { name: 'credential timing', script: 'credential-timing.ts' },
  // Executions, states and Lambda invocations of the triggers, before and after issue #19 (about 18 minutes).
  { name: 'trigger cost', script: 'trigger-cost.ts', full: true },
  // Issue #25: one submission cold and warm, then 10 and 50 clients; database commands per submission, counted.
  { name: 'submission rate', script: 'submission-rate.ts', args: ['--clients', '10', '--seconds', '15'] },
  { name: 'submission rate, 50 clients', script: 'submission-rate.ts', args: ['--clients', '50', '--seconds', '15'] },
  // Issue #25: 50 clients register and submit at once on a cold service while runs are forced.
  { name: 'submission burst', script: 'submission-burst.ts' },
  // Issue #28: a secure round stage by stage, and its sum beside the same round in the clear: 100x100k (+ 10x10M with --full).
  { name: 'secure aggregation', script: 'secure-aggregation.ts', args: full ? ['100x100000', '10x10000000'] : ['100x100000'] },
  {
    name: 'submission rate (FerretDB on SQLite)',
    script: 'submission-rate.ts',
    args: ['--clients', '10', '--seconds', '20'],
    env: { FERRETDB_BACKEND: 'sqlite' },
    full: true,
  },
];

const filter = process.argv.slice(2).find((arg) => !arg.startsWith('--'));
const tsx = path.join(__dirname, '..', 'node_modules', '.bin', 'tsx');
let failed = 0;
const allStarted = performance.now();
const chosen = BENCHMARKS.filter((b) => (full || b.full !== true) && (filter === undefined || b.name.includes(filter)));
const skipped = BENCHMARKS.filter((b) => !full && b.full === true && (filter === undefined || b.name.includes(filter)));
for (const benchmark of chosen) {
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
console.log(`\n== all done in ${((performance.now() - allStarted) / 60_000).toFixed(1)} minutes`);
if (skipped.length > 0) console.log(`== not run (add --full): ${skipped.map((b) => b.name).join(', ')}`);
process.exit(failed === 0 ? 0 : 1);
