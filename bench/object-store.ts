/**
 * `npx tsx bench/object-store.ts [s3rver|gofakes3-memory|gofakes3-fs ...]`: PUT and GET of 100
 * objects of 8 MiB through lib/store (the AWS SDK v3), with 1 and 4 concurrent streams, against each
 * candidate local S3 server in its own process. Prints MiB/s and the server's CPU time (user+sys,
 * from /proc) per phase. The figures in the README's "Object store" section come from here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { createS3Client, createS3ObjectStore } from '../lib/store';

const OBJECTS = 100;
const SIZE = 8 * 1024 * 1024;
const root = path.resolve(__dirname, '..');
const ticks = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

async function startServer(kind: string): Promise<{ endpoint: string; child: ChildProcess; cleanup: () => Promise<void> }> {
  if (kind === 's3rver') {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-s3rver-'));
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const S3rver=require('s3rver');new S3rver({port:0,address:'127.0.0.1',directory:${JSON.stringify(dir)},silent:true}).run().then(a=>console.log('S3_ENDPOINT=http://127.0.0.1:'+a.port));process.stdin.on('end',()=>process.exit(0));process.stdin.resume()`,
      ],
      { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    return { endpoint: await announced(child), child, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  const backend = kind === 'gofakes3-fs' ? 'fs' : 'memory';
  const child = spawn(path.join(root, '.cache', 'object-store-launcher'), ['-backend', backend], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return { endpoint: await announced(child), child, cleanup: async () => undefined };
}

function announced(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^S3_ENDPOINT=(.+)$/.exec(line.trim());
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
}

async function inParallel(count: number, concurrency: number, task: (index: number, worker: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < count) await task(next++, worker);
    }),
  );
}

async function main(): Promise<void> {
  const kinds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['s3rver', 'gofakes3-memory', 'gofakes3-fs'];
  const payload = randomBytes(SIZE);
  for (const kind of kinds) {
    const server = await startServer(kind);
    const options = {
      bucket: 'bench',
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    };
    await createS3Client(options).send(new CreateBucketCommand({ Bucket: 'bench' }));
    const store = createS3ObjectStore(options);
    for (const concurrency of [1, 4]) {
      for (const phase of ['PUT', 'GET'] as const) {
        const buffers = Array.from({ length: concurrency }, () => new Uint8Array(SIZE));
        const cpuBefore = cpuSeconds(server.child.pid!);
        const started = process.hrtime.bigint();
        const clientCpu = process.cpuUsage();
        await inParallel(OBJECTS, concurrency, async (index, worker) => {
          if (phase === 'PUT') await store.put(`o/${index}`, payload);
          else if ((await store.readInto(`o/${index}`, buffers[worker]!)) !== SIZE) throw new Error('short read');
        });
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const client = process.cpuUsage(clientCpu);
        const serverCpu = cpuSeconds(server.child.pid!) - cpuBefore;
        console.log(
          `${kind.padEnd(16)} ${phase} x${concurrency}: ${((OBJECTS * SIZE) / 2 ** 20 / seconds).toFixed(0).padStart(5)} MiB/s ` +
            `(${seconds.toFixed(2)} s; server CPU ${serverCpu.toFixed(2)} s = ${((100 * serverCpu) / seconds).toFixed(0)}%, ` +
            `client CPU ${((client.user + client.system) / 1e6).toFixed(2)} s)`,
        );
      }
    }
    server.child.stdin!.end();
    server.child.kill('SIGTERM');
    await server.cleanup();
  }
}

void main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
