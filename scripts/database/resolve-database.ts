/**
 * The one database resolver, used by `npm start`, `npm test` (Jest's global setup) and CI:
 *
 * 1. `MONGODB_URI`, when set: an existing deployment, checked with a ping;
 * 2. otherwise an embedded mongodb-memory-server (a real mongod, downloaded once and cached);
 * 3. where no mongod can be had but Go can, FerretDB v1 on SQLite, from our launcher in
 *    `scripts/ferretdb` (built on first use into `.cache/`), which lets one command through at a
 *    time so that updates are atomic as on MongoDB (see scripts/ferretdb/main.go);
 * 4. otherwise an immediate error that says what to set.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { waitForServer, type ServerDescription } from '../../lib/db/ping';

export type DatabaseKind = 'external' | 'mongodb-memory-server' | 'ferretdb';

export interface ResolvedDatabase {
  readonly kind: DatabaseKind;
  readonly uri: string;
  readonly server: ServerDescription;
  /** A one-line description for logs: which server the service or the tests run on. */
  readonly description: string;
  /** Stops the server if this resolver started it; safe to call more than once. */
  stop(): Promise<void>;
}

const projectRoot = path.resolve(__dirname, '..', '..');
const launcherSource = path.join(projectRoot, 'scripts', 'ferretdb');
const launcherBinary = path.join(projectRoot, '.cache', 'ferretdb-launcher');
const PING_TIMEOUT_MS = 30_000;

type Log = (message: string) => void;

export async function resolveDatabase(log: Log = (m) => console.error(m)): Promise<ResolvedDatabase> {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== '') {
    const server = await waitForServer(external, 10_000);
    return {
      kind: 'external',
      uri: external,
      server,
      description: `MONGODB_URI (${describeServer(server)})`,
      stop: async () => undefined,
    };
  }

  const memoryServerFailure = await startMemoryServer().catch((error: unknown) => error);
  if (!(memoryServerFailure instanceof Error)) return memoryServerFailure as ResolvedDatabase;
  log(`database: mongodb-memory-server unavailable (${firstLine(memoryServerFailure.message)})`);

  if (!hasGo()) {
    throw new Error(
      'No database available: set MONGODB_URI to a MongoDB deployment (e.g. mongodb://127.0.0.1:27017), ' +
        'let mongodb-memory-server download mongod (see its MONGOMS_* settings, e.g. MONGOMS_SYSTEM_BINARY), ' +
        'or install Go so that the FerretDB fallback can be built.',
    );
  }
  return startFerretDb(log);
}

async function startMemoryServer(): Promise<ResolvedDatabase> {
  const { MongoMemoryServer } = await import('mongodb-memory-server');
  // mongodb-memory-server prints a full stack trace on console.warn when its download fails; the
  // resolver reports the failure in one line and moves on, so keep the fallback path quiet.
  const warn = console.warn;
  console.warn = () => undefined;
  const memoryServer = await MongoMemoryServer.create().finally(() => {
    console.warn = warn;
  });
  try {
    const uri = memoryServer.getUri();
    const server = await waitForServer(uri, PING_TIMEOUT_MS);
    let stopped = false;
    return {
      kind: 'mongodb-memory-server',
      uri,
      server,
      description: `mongodb-memory-server (${describeServer(server)}) at ${uri}`,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await memoryServer.stop();
      },
    };
  } catch (error) {
    await memoryServer.stop();
    throw error;
  }
}

function hasGo(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/** Builds the launcher when it is missing or older than its sources. */
function buildLauncher(log: Log): void {
  const sources = readdirSync(launcherSource)
    .filter((file) => file.endsWith('.go') || file === 'go.mod' || file === 'go.sum')
    .map((file) => path.join(launcherSource, file));
  const newestSource = Math.max(...sources.map((file) => statSync(file).mtimeMs));
  if (existsSync(launcherBinary) && statSync(launcherBinary).mtimeMs >= newestSource) return;

  log('database: building the FerretDB launcher (first use; about a minute)');
  mkdirSync(path.dirname(launcherBinary), { recursive: true });
  const build = spawnSync('go', ['build', '-o', launcherBinary, '.'], {
    cwd: launcherSource,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0) {
    throw new Error(`Building the FerretDB launcher failed (go build exited with ${build.status ?? build.signal})`);
  }
}

async function startFerretDb(log: Log): Promise<ResolvedDatabase> {
  buildLauncher(log);
  // stdin stays open as a lifeline: the launcher exits when this process goes away.
  const child = spawn(launcherBinary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const uri = await readAnnouncedUri(child);
    const server = await waitForServer(uri, PING_TIMEOUT_MS);
    let stopped = false;
    return {
      kind: 'ferretdb',
      uri,
      server,
      description: `FerretDB ${ferretDbModuleVersion()} (embedded, SQLite backend; reports MongoDB ${server.version}) at ${uri}`,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await stopChild(child, exited);
      },
    };
  } catch (error) {
    await stopChild(child, exited);
    throw error;
  }
}

function readAnnouncedUri(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('The FerretDB launcher announced no URI within 30 s')), 30_000);
    lines.on('line', (line) => {
      const match = /^MONGODB_URI=(.+)$/.exec(line.trim());
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The FerretDB launcher exited early (${code ?? signal})`));
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  child.kill('SIGTERM');
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killTimer);
}

/** The FerretDB module version the launcher is built from (embedded builds report "unknown"). */
function ferretDbModuleVersion(): string {
  const goMod = readFileSync(path.join(launcherSource, 'go.mod'), 'utf8');
  return /github\.com\/FerretDB\/FerretDB (v\S+)/.exec(goMod)?.[1] ?? 'unknown';
}

function describeServer(server: ServerDescription): string {
  return server.ferretdbVersion !== undefined
    ? `FerretDB ${server.ferretdbVersion}, MongoDB ${server.version} compatible`
    : `MongoDB ${server.version}`;
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}
