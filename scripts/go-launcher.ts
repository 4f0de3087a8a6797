/**
 * Our Go launchers (scripts/ferretdb, scripts/object-store/gofakes3) are built from source on
 * first use into .cache/, and again whenever a source file is newer than the binary.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export function hasGo(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Builds the launcher in `source` into `binary` when it is missing or older than its sources.
 * `name` and `duration` only word the log line (`building the <name> launcher (first use; <duration>)`).
 */
export function buildGoLauncher(options: {
  readonly source: string;
  readonly binary: string;
  readonly name: string;
  readonly duration: string;
  readonly log: (message: string) => void;
}): void {
  const { source, binary } = options;
  const sources = readdirSync(source)
    .filter((file) => file.endsWith('.go') || file === 'go.mod' || file === 'go.sum')
    .map((file) => path.join(source, file));
  const newestSource = Math.max(...sources.map((file) => statSync(file).mtimeMs));
  if (existsSync(binary) && statSync(binary).mtimeMs >= newestSource) return;

  options.log(`building the ${options.name} launcher (first use; ${options.duration})`);
  mkdirSync(path.dirname(binary), { recursive: true });
  const build = spawnSync('go', ['build', '-o', binary, '.'], { cwd: source, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) {
    throw new Error(`Building the ${options.name} launcher failed (go build exited with ${build.status ?? build.signal})`);
  }
}

/** The version of `module` that the launcher in `source` is built from, as its go.mod pins it. */
export function goModuleVersion(source: string, module: string): string {
  const goMod = readFileSync(path.join(source, 'go.mod'), 'utf8');
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`${escaped} (v\\S+)`).exec(goMod)?.[1] ?? 'unknown';
}

/**
 * Stops a launcher: closing its stdin is its signal to shut down what it owns; SIGTERM, then
 * SIGKILL after 5 s, cover one that does not listen. Resolves once it has exited.
 */
export async function stopLauncher(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  child.kill('SIGTERM');
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killTimer);
}
