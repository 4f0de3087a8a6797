import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const fixture = path.join(__dirname, '..', 'fixtures', 'start-offline.ts');

/** Some process of the group is alive (and not a zombie waiting to be reaped). */
function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

describe('serverless-offline started by startOffline', () => {
  it('leaves no process behind when the process that started it is killed with SIGKILL (no exit handler runs)', async () => {
    // node --import tsx: one process, so the SIGKILL hits the very process that holds the lifeline.
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code, signal) => reject(new Error(`the child exited (${code ?? signal}) before offline was up`)));
    });
    const { group, httpUrl } = JSON.parse(line) as { group: number; httpUrl: string };
    expect(groupAlive(group)).toBe(true);
    expect((await fetch(`${httpUrl}/dashboard`)).status).toBe(200);

    child.kill('SIGKILL');

    const deadline = Date.now() + 15_000;
    while (groupAlive(group) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(groupAlive(group)).toBe(false);
    await expect(fetch(`${httpUrl}/dashboard`)).rejects.toThrow();
  }, 300_000);
});
