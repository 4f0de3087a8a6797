/**
 * The one database resolver, used by `npm start`, `npm test` (Jest's global setup) and CI:
 *
 * 1. `MONGODB_URI`, when set: an existing deployment, checked with a ping;
 * 2. otherwise an embedded mongodb-memory-server (a real mongod, downloaded once and cached);
 * 3. where no mongod can be had but Go can, FerretDB v1 from our launcher in `scripts/ferretdb`
 *    (built on first use into `.cache/`), which lets one command through at a time so that
 *    updates are atomic as on MongoDB (see scripts/ferretdb/main.go):
 *    a. on a throwaway PostgreSQL cluster, when PostgreSQL's server binaries are found
 *       (`pg_config --bindir`, else the newest /usr/lib/postgresql/<version>/bin);
 *    b. otherwise on SQLite. `FERRETDB_BACKEND=sqlite` forces SQLite, `=postgresql` insists on
 *       PostgreSQL;
 * 4. otherwise an immediate error that says what to set.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { buildGoLauncher, goModuleVersion, hasGo, stopLauncher } from '../go-launcher';
import { createInterface } from 'node:readline';
import { waitForServer, type ServerDescription } from '../../lib/db/ping';

export type DatabaseKind = 'external' | 'mongodb-memory-server' | 'ferretdb';

export type FerretDbBackend = 'postgresql' | 'sqlite';

/** What a FerretDB launcher runs on, as it announced it: for logs and for the cleanup test. */
export interface LauncherProcesses {
  readonly backend: FerretDbBackend;
  readonly launcherPid: number;
  /** The temporary directory the launcher removes on exit. */
  readonly directory: string;
  /** PostgreSQL's postmaster, a child of the launcher (PostgreSQL backend only). */
  readonly postgresPid?: number;
}

export interface ResolvedDatabase {
  readonly kind: DatabaseKind;
  readonly uri: string;
  readonly server: ServerDescription;
  /** A one-line description for logs: which server the service or the tests run on. */
  readonly description: string;
  /** For FerretDB: the launcher's processes and directory. */
  readonly launcher?: LauncherProcesses;
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
  const choice = chooseFerretDbBackend();
  if (choice.backend === 'sqlite' && process.env.FERRETDB_BACKEND !== 'sqlite') {
    log('database: no PostgreSQL server binaries (initdb, postgres) found; FerretDB runs on SQLite');
  }
  return startFerretDb(log, choice);
}

/**
 * PostgreSQL where its server binaries are installed, else SQLite; `FERRETDB_BACKEND` overrides.
 * Returns the binaries' directory for PostgreSQL.
 */
export function chooseFerretDbBackend(): { backend: FerretDbBackend; pgBinDir?: string } {
  const wanted = process.env.FERRETDB_BACKEND ?? '';
  if (wanted === 'sqlite') return { backend: 'sqlite' };
  if (wanted !== '' && wanted !== 'postgresql') {
    throw new Error(`FERRETDB_BACKEND must be "postgresql" or "sqlite", not "${wanted}"`);
  }
  const pgBinDir = findPostgresBinDir();
  if (pgBinDir !== undefined) return { backend: 'postgresql', pgBinDir };
  if (wanted === 'postgresql') {
    throw new Error(
      'FERRETDB_BACKEND=postgresql, but no PostgreSQL server binaries (initdb, postgres) were found: ' +
        'install them (Debian: apt-get install postgresql-15) or put pg_config on PATH.',
    );
  }
  return { backend: 'sqlite' };
}

/** The directory of PostgreSQL's initdb and postgres, if installed. */
export function findPostgresBinDir(): string | undefined {
  const candidates: string[] = [];
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  // Debian keeps the server binaries off PATH, one directory per major version; newest first.
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot).filter((name) => /^\d+$/.test(name));
    versions.sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => path.join(debianRoot, version, 'bin')));
  }
  return candidates.find((dir) => ['initdb', 'postgres'].every((binary) => existsSync(path.join(dir, binary))));
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

function buildLauncher(log: Log): void {
  buildGoLauncher({
    source: launcherSource,
    binary: launcherBinary,
    name: 'FerretDB',
    duration: 'about a minute',
    log: (message) => log(`database: ${message}`),
  });
}

/**
 * Starts our FerretDB launcher on the given backend. It owns everything it starts (PostgreSQL
 * included) and removes its temporary directory on exit; its stdin is its lifeline.
 */
export async function startFerretDb(
  log: Log,
  choice: { backend: FerretDbBackend; pgBinDir?: string },
): Promise<ResolvedDatabase> {
  buildLauncher(log);
  const args = ['-backend', choice.backend, ...(choice.pgBinDir === undefined ? [] : ['-pg-bindir', choice.pgBinDir])];
  // stdin stays open as a lifeline: the launcher exits when this process goes away.
  const child = spawn(launcherBinary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const announced = await readAnnouncement(child);
    const uri = announced.MONGODB_URI!;
    const server = await waitForServer(uri, PING_TIMEOUT_MS);
    // "PostgreSQL 15.14" -> "PostgreSQL 15": the major version is what tells backends apart.
    const backendName = (announced.FERRETDB_BACKEND ?? choice.backend).replace(/^(PostgreSQL \d+)\.\d+$/, '$1');
    let stopped = false;
    return {
      kind: 'ferretdb',
      uri,
      server,
      description: `FerretDB ${goModuleVersion(launcherSource, 'github.com/FerretDB/FerretDB')} (embedded, ${backendName} backend; reports MongoDB ${server.version}) at ${uri}`,
      launcher: {
        backend: choice.backend,
        launcherPid: child.pid!,
        directory: announced.FERRETDB_DIR!,
        ...(announced.POSTGRES_PID === undefined ? {} : { postgresPid: Number(announced.POSTGRES_PID) }),
      },
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await stopLauncher(child, exited);
      },
    };
  } catch (error) {
    await stopLauncher(child, exited);
    throw error;
  }
}

/** The launcher's `KEY=value` lines, up to and including `MONGODB_URI=`, its last. */
function readAnnouncement(child: ChildProcess): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const announced: Record<string, string> = {};
    // initdb and PostgreSQL's start come first: allow for a slow, busy machine.
    const timer = setTimeout(() => reject(new Error('The FerretDB launcher announced no URI within 60 s')), 60_000);
    lines.on('line', (line) => {
      const match = /^([A-Z_]+)=(.+)$/.exec(line.trim());
      if (match?.[1] === undefined || match[2] === undefined) return;
      announced[match[1]] = match[2];
      if (match[1] === 'MONGODB_URI') {
        clearTimeout(timer);
        resolve(announced);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The FerretDB launcher exited early (${code ?? signal})`));
    });
  });
}

function describeServer(server: ServerDescription): string {
  return server.ferretdbVersion !== undefined
    ? `FerretDB ${server.ferretdbVersion}, MongoDB ${server.version} compatible`
    : `MongoDB ${server.version}`;
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}
