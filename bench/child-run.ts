/**
 * Benchmarks that measure a run's time and memory run it in a fresh process (so that its peak
 * RSS is its own): `runInChild` starts this same script with `--child` and its arguments, and
 * reads the figures the child prints as its last line of output (JSON).
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';

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
