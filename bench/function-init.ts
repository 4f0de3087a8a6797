/**
 * Benchmark (issue #27): each deployed bundle's module-init time, the part of a Lambda cold start
 * that is ours. Packages the service (`serverless package`, the bundles that are deployed), then
 * loads each function's bundle in a fresh Node.js process and times the `require` (the runtime's
 * own start-up is not counted). The AWS SDK clients that the runtime ships, and the bundles leave
 * out, are resolved from node_modules, as the runtime resolves them from its own copy.
 *
 *   npx tsx bench/function-init.ts                      # package, then 7 loads per function
 *   npx tsx bench/function-init.ts --package <dir>      # bundles packaged before
 *   npx tsx bench/function-init.ts --label before       # saved as bench/results/function-init-before.json
 *
 * Prints the median per function, slowest first; figures go to bench/results/function-init[-label].json.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readZip } from '../test/helpers/zip';
import { writeResults } from './results-file';

const root = path.resolve(__dirname, '..');
const LOADS = 7;

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** One load of a bundle in a fresh process: the milliseconds its `require` took. */
function loadOnce(bundle: string): number {
  const script = `const t=performance.now();require(${JSON.stringify(bundle)});process.stdout.write(String(performance.now()-t))`;
  const run = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_PATH: path.join(root, 'node_modules'), AWS_REGION: 'us-east-1', NODE_OPTIONS: '' },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`loading ${bundle} failed: ${run.stderr}`);
  return Number(run.stdout);
}

function main(): void {
  let packageDir = option('package');
  if (packageDir === undefined) {
    packageDir = path.join(root, '.cache', 'bench-package');
    const packaged = spawnSync(process.execPath, [path.join(root, 'node_modules', 'serverless', 'bin', 'serverless.js'), 'package', '--package', packageDir], {
      cwd: root,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', FMA_ESBUILD_WORK_FOLDER: '.esbuild/bench-package' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (packaged.status !== 0) throw new Error('serverless package failed');
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'fma-init-'));
  try {
    const figures: { function: string; bundleBytes: number; medianMs: number; minMs: number }[] = [];
    for (const zip of readdirSync(packageDir).filter((name) => name.endsWith('.zip')).sort()) {
      const name = zip.replace(/\.zip$/, '');
      const [entry] = readZip(readFileSync(path.join(packageDir, zip))).filter((file) => file.name.startsWith('functions/') && file.name.endsWith('.js'));
      if (entry === undefined) continue;
      const bundle = path.join(work, `${name}.js`);
      writeFileSync(bundle, entry.data);
      const times = Array.from({ length: LOADS }, () => loadOnce(bundle)).sort((a, b) => a - b);
      figures.push({ function: name, bundleBytes: entry.data.length, medianMs: Number(times[LOADS >> 1]!.toFixed(1)), minMs: Number(times[0]!.toFixed(1)) });
    }
    figures.sort((a, b) => b.medianMs - a.medianMs);
    console.log(`module init, median of ${LOADS} fresh processes (min), bundle size:`);
    for (const figure of figures) {
      console.log(`  ${figure.function.padEnd(46)} ${String(figure.medianMs).padStart(6)} ms (${figure.minMs})  ${(figure.bundleBytes / 1024).toFixed(0).padStart(6)} KiB`);
    }
    const label = option('label');
    writeResults(label === undefined ? 'function-init' : `function-init-${label}`, 'none (module load only)', figures);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
