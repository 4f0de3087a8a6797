import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';

const root = path.resolve(__dirname, '..', '..', '..');

/** Whether something accepts TCP connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the local object store started by resolveObjectStore', () => {
  it('stops accepting connections within seconds after its parent is killed', async () => {
    // A parent that resolves a local store (no S3_ENDPOINT) and then waits, never stopping it.
    const script = `
      const { resolveObjectStore } = require(${JSON.stringify(path.join(root, 'scripts/object-store/resolve-object-store.ts'))});
      resolveObjectStore(() => undefined).then((store) => console.log('ENDPOINT=' + store.endpoint));
      setInterval(() => undefined, 1000);
    `;
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('S3_')));
    const parent = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const endpoint = await new Promise<string>((resolve, reject) => {
      createInterface({ input: parent.stdout! }).on('line', (line) => {
        if (line.startsWith('ENDPOINT=')) resolve(line.slice('ENDPOINT='.length));
      });
      parent.once('exit', (code) => reject(new Error(`the parent exited (${code}) before it had a store`)));
    });
    const port = Number(new URL(endpoint).port);
    expect(await accepts(port)).toBe(true);

    parent.kill('SIGKILL');
    const deadline = Date.now() + 5_000;
    while ((await accepts(port)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await accepts(port)).toBe(false);
  }, 60_000);
});
