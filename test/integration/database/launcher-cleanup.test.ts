import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { findPostgresBinDir, type LauncherProcesses } from '../../../scripts/database/resolve-database';

const fixture = path.join(__dirname, '..', '..', 'fixtures', 'start-launcher.ts');

/** Alive and not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

async function startInChild(backend: string) {
  // node --import tsx: one process (the tsx command would put a second node in between, which
  // would outlive the SIGKILL and keep the launcher's lifeline open).
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, backend], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code, signal) => reject(new Error(`the child exited (${code ?? signal}) before the launcher was up`)));
  });
  return { child, started: JSON.parse(line) as LauncherProcesses & { uri: string } };
}

// PostgreSQL where its binaries are installed (as on CI), SQLite always.
const backends = [...(findPostgresBinDir() === undefined ? [] : ['postgresql']), 'sqlite'];

describe.each(backends)('the FerretDB launcher on %s', (backend) => {
  it('leaves no process or directory behind when the process that started it is killed with SIGKILL', async () => {
    const { child, started } = await startInChild(backend);
    expect(started.backend).toBe(backend);
    expect(isRunning(started.launcherPid)).toBe(true);
    expect(existsSync(started.directory)).toBe(true);
    if (backend === 'postgresql') {
      expect(started.postgresPid).toBeGreaterThan(0);
      expect(isRunning(started.postgresPid!)).toBe(true);
    }
    // It serves: a write and a read through the launcher's proxy.
    const client = await new MongoClient(started.uri).connect();
    try {
      await client.db('cleanup_check').collection('c').insertOne({ _id: 1 as never, a: 1 });
      expect(await client.db('cleanup_check').collection('c').countDocuments({})).toBe(1);
    } finally {
      await client.close();
    }

    child.kill('SIGKILL');

    const pids = [started.launcherPid, ...(started.postgresPid === undefined ? [] : [started.postgresPid])];
    expect(await eventually(() => pids.every((pid) => !isRunning(pid)) && !existsSync(started.directory), 15_000)).toBe(true);
  }, 120_000);

  it('takes PostgreSQL down with it when the launcher itself is killed, and the next launcher removes its directory', async () => {
    const first = await startInChild(backend);
    const second = await (async () => {
      try {
        process.kill(first.started.launcherPid, 'SIGKILL');
        if (first.started.postgresPid !== undefined) {
          // The kernel sends PostgreSQL SIGQUIT when its parent, the launcher, dies (Pdeathsig).
          expect(await eventually(() => !isRunning(first.started.postgresPid!), 15_000)).toBe(true);
        }
        expect(existsSync(first.started.directory)).toBe(true); // nobody was left to remove it
        return await startInChild(backend);
      } finally {
        first.child.kill('SIGKILL');
      }
    })();
    try {
      expect(existsSync(first.started.directory)).toBe(false);
      expect(existsSync(second.started.directory)).toBe(true);
    } finally {
      second.child.kill('SIGKILL');
    }
    expect(await eventually(() => !existsSync(second.started.directory), 15_000)).toBe(true);
  }, 120_000);
});
