/**
 * Benchmarks write their figures to `bench/results/<name>.json` (committed), with the database
 * they ran on and when, so that README figures can be traced to a run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function writeResults(name: string, database: string, figures: readonly unknown[]): string {
  const file = path.join(__dirname, 'results', `${name}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  const machine = { cpus: os.cpus().length, node: process.version, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))) };
  writeFileSync(file, `${JSON.stringify({ benchmark: name, database, measuredAt: new Date().toISOString(), machine, figures }, null, 2)}\n`);
  return file;
}
