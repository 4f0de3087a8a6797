/**
 * Starts `serverless offline` as a child process group and stops it again; used by `npm start`
 * and by the end-to-end tests, so that both run the service the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

export interface OfflineOptions {
  /** Environment for the functions (MONGODB_URI, MONGODB_DB_NAME, ...), added to this process's. */
  readonly env?: Readonly<Record<string, string>>;
  readonly httpPort?: number;
  readonly lambdaPort?: number;
  /** Where serverless-esbuild builds; separate folders let several instances run at once. */
  readonly esbuildWorkFolder?: string;
  /** Run the every-minute aggregation schedule too (npm start); tests leave it off. */
  readonly schedule?: boolean;
  /** Pass the child's output through (npm start) instead of keeping it for error messages. */
  readonly inheritOutput?: boolean;
  /** Also given every chunk the child writes, stdout and stderr apart (the tests of the logs read them). */
  readonly onOutput?: (text: string, stream: 'stdout' | 'stderr') => void;
  readonly readyTimeoutMs?: number;
}

export interface RunningOffline {
  readonly httpUrl: string;
  readonly lambdaEndpoint: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

const projectRoot = path.resolve(__dirname, '..');
const serverlessBin = path.join(projectRoot, 'node_modules', 'serverless', 'bin', 'serverless.js');
const guardScript = path.join(projectRoot, 'scripts', 'offline-guard.cjs');

/** A TCP port that is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject()));
    });
  });
}

/**
 * The local executor (functions/aggregation/local-executor.ts: aws-local-stepfunctions, the state
 * machine's definition, every aggregation task), which no deployed bundle contains, bundled on its
 * own, and a preload that registers it where lib/aggregation/start-run.ts looks for it. The
 * preload is given to serverless offline as `node --require`, which its function workers inherit;
 * it loads the bundle on the first run only. Returns the preload's path.
 */
export async function buildLocalExecutorPreload(workFolder: string): Promise<string> {
  const { build } = await import('esbuild');
  const folder = path.resolve(projectRoot, workFolder, 'local-executor');
  await mkdir(folder, { recursive: true });
  const bundle = path.join(folder, 'local-executor.cjs');
  await build({
    entryPoints: [path.join(projectRoot, 'functions', 'aggregation', 'local-executor.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    keepNames: true,
    // Resolved from the project's node_modules, as the functions' own packages are locally.
    packages: 'external',
    logLevel: 'warning',
  });
  const preload = path.join(folder, 'preload.cjs');
  await writeFile(
    preload,
    `'use strict';\n// Written by scripts/offline.ts (buildLocalExecutorPreload).\nglobalThis[Symbol.for('fma-serverless.localRunExecutor')] = (input) => require(${JSON.stringify(bundle)}).executeAggregationLocally(input);\n`,
  );
  return preload;
}

export async function startOffline(options: OfflineOptions = {}): Promise<RunningOffline> {
  const httpPort = options.httpPort ?? (await freePort());
  const lambdaPort = options.lambdaPort ?? (await freePort());
  // AGGREGATION_EXECUTOR=local (npm start, the tests): the functions get the local executor from a
  // preload; deployed, they start Step Functions executions and have no executor to load.
  const executor = options.env?.AGGREGATION_EXECUTOR ?? process.env.AGGREGATION_EXECUTOR;
  const preload = executor === 'local' ? ['--require', await buildLocalExecutorPreload(options.esbuildWorkFolder ?? '.esbuild')] : [];
  // Through a guard that ends the whole group when this process goes away, however it goes.
  const child = spawn(process.execPath, [guardScript, ...preload, serverlessBin, 'offline', 'start'], {
    cwd: projectRoot,
    detached: true, // its own process group, so stop() ends the function workers too
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // serverless-offline's Lambda endpoint signs nothing, but the SDK and the framework want credentials.
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'AKIAOFFLINE',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'offline',
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      SLS_TELEMETRY_DISABLED: '1',
      FMA_OFFLINE_HTTP_PORT: String(httpPort),
      FMA_OFFLINE_LAMBDA_PORT: String(lambdaPort),
      // The functions invoke each other (large upload verification) through offline's endpoint.
      LAMBDA_ENDPOINT: `http://127.0.0.1:${lambdaPort}`,
      FMA_SCHEDULE_ENABLED: options.schedule === true ? 'true' : 'false',
      ...(options.esbuildWorkFolder === undefined ? {} : { FMA_ESBUILD_WORK_FOLDER: options.esbuildWorkFolder }),
      ...options.env,
    },
  });
  // The guard's stdin is only a lifeline: it must not keep this process alive by itself.
  (child.stdin as unknown as { unref(): void }).unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If this process ends before stop() runs (a test runner's hook timeout, a crash), the service
  // and its function workers go with it: the group was detached, so nothing else would end it.
  // (A SIGKILL skips 'exit' handlers; then the guard sees its stdin close and ends the group.)
  const killOnExit = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString();
      options.onOutput?.(text, stream);
      if (options.inheritOutput === true) process.stderr.write(text);
      else output = (output + text).slice(-20_000);
      if (/Server ready:/.test(output) || /Server ready:/.test(text)) resolve();
    };
    child.stdout!.on('data', onData('stdout'));
    child.stderr!.on('data', onData('stderr'));
    child.once('exit', (code, signal) =>
      reject(new Error(`serverless offline exited (${code ?? signal}) before it was ready:\n${output}`)),
    );
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      return; // already gone
    }
    const killTimer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }, 5_000);
    await exited;
    clearTimeout(killTimer);
  };

  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`serverless offline was not ready within ${timeoutMs} ms:\n${output}`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }

  return {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    lambdaEndpoint: `http://127.0.0.1:${lambdaPort}`,
    process: child,
    stop,
  };
}
