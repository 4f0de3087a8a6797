/**
 * Benchmarks that measure a run's time and memory run it in a fresh process (so that its peak
 * RSS is its own): `runInChild` starts this same script with `--child` and its arguments, and
 * reads the figures the child prints as its last line of output (JSON).
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import type { ObjectStore } from '../lib/store';

export function runInChild<T>(script: string, args: readonly string[], env: Record<string, string>): Promise<T> {
  return new Promise((resolve, reject) => {
    const tsx = path.join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const run = spawn(tsx, [script, '--child', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    run.on('error', reject);
    run.on('close', (code) => {
      const line = output.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`the run's process exited ${code}: ${output}`));
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`the run's process printed no figures: ${output}`));
      }
    });
  });
}

/** The commit the figures were measured at, when there is one. */
export function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** What a child that ran one aggregation prints (see {@link aggregateInThisProcess}). */
export interface AggregationRunFigures {
  finalState: string;
  wallSeconds: number;
  peakRssMiB: number;
  /** The aggregate it wrote, or -1. */
  aggregate: number;
}

/**
 * The child's side: runs the model's aggregation state machine once under the local executor,
 * prints its figures as the last line, and exits (so the peak RSS is the run's).
 */
export async function aggregateInThisProcess(model: number): Promise<void> {
  const { executeAggregationLocally } = await import('../functions/aggregation/local-executor');
  const started = performance.now();
  const result = await executeAggregationLocally({ model, run: `bench-${Date.now()}` });
  const wallSeconds = (performance.now() - started) / 1000;
  const output = result.output as { aggregate?: { id: number } } | undefined;
  const figures: AggregationRunFigures = {
    finalState: result.finalState,
    wallSeconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    aggregate: output?.aggregate?.id ?? -1,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
}

/** Deletes every object under the prefixes (a benchmark's leftovers in the shared store). */
export async function deleteStoredPrefixes(store: ObjectStore, prefixes: readonly string[]): Promise<void> {
  const keys: string[] = [];
  for (const prefix of prefixes) {
    let continuation: string | undefined;
    do {
      const page = await store.list(prefix, continuation);
      keys.push(...page.objects.map((object) => object.key));
      continuation = page.continuation ?? undefined;
    } while (continuation !== undefined);
  }
  if (keys.length > 0) await store.delete(keys);
}
