/**
 * The one object-store resolver, used by `npm start`, `npm test` (Jest's global setup) and CI,
 * chosen the way the database is:
 *
 * 1. `S3_ENDPOINT` (+ `S3_BUCKET`, default `fma-weights`), when set: an existing S3-compatible
 *    server (or S3 itself), checked by looking the bucket up; the bucket is created if missing;
 * 2. otherwise gofakes3 (Go, in-memory backend) from our launcher in
 *    `scripts/object-store/gofakes3`, built into `.cache/` on first use: measured faster and
 *    lighter on CPU than s3rver (see the README's "Object store");
 * 3. where Go is missing, s3rver (npm, a devDependency) in a Node process of its own;
 * 4. otherwise an immediate error that says what to set.
 *
 * `FMA_LOCAL_OBJECT_STORE=s3rver` (or `gofakes3`) picks the local server explicitly. Local servers
 * listen on 127.0.0.1 on a free port and exit when this process goes away (their stdin closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildGoLauncher, goModuleVersion, hasGo, stopLauncher } from '../go-launcher';
import { createInterface } from 'node:readline';
import { CreateBucketCommand, HeadBucketCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../lib/store';

export type ObjectStoreKind = 'external' | 'gofakes3' | 's3rver';

export interface ResolvedObjectStore {
  readonly kind: ObjectStoreKind;
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  /** Credentials for a local server (any will do); `undefined` for S3_ENDPOINT (the environment's). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** A one-line description for logs: which store the service or the tests use. */
  readonly description: string;
  /** Stops the server if this resolver started it; safe to call more than once. */
  stop(): Promise<void>;
}

type Log = (message: string) => void;

/** What the functions need to reach a resolved store: the S3_* settings and, for a local server, its credentials. */
export function objectStoreEnv(store: ResolvedObjectStore): Record<string, string> {
  return {
    S3_ENDPOINT: store.endpoint,
    S3_BUCKET: store.bucket,
    S3_REGION: store.region,
    ...(store.credentials === undefined
      ? {}
      : { AWS_ACCESS_KEY_ID: store.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: store.credentials.secretAccessKey }),
  };
}

const projectRoot = path.resolve(__dirname, '..', '..');
const launcherSource = path.join(projectRoot, 'scripts', 'object-store', 'gofakes3');
const launcherBinary = path.join(projectRoot, '.cache', 'object-store-launcher');
const s3rverLauncher = path.join(projectRoot, 'scripts', 'object-store', 's3rver.js');
const DEFAULT_BUCKET = 'fma-weights';
/** s3rver's fixed key pair (it checks the key id, not signatures); gofakes3 accepts any. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export async function resolveObjectStore(log: Log = (m) => console.error(m)): Promise<ResolvedObjectStore> {
  const region = process.env.S3_REGION || process.env.AWS_REGION || 'us-east-1';
  const bucket = process.env.S3_BUCKET || DEFAULT_BUCKET;
  const external = process.env.S3_ENDPOINT;
  if (external !== undefined && external !== '') {
    const client = createS3Client({ bucket, endpoint: external, region, maxAttempts: 2 });
    await ensureBucket(client, bucket).catch((error: unknown) => {
      throw new Error(`S3_ENDPOINT ${external} is not usable (bucket ${bucket}): ${describe(error)}`, { cause: error });
    });
    return {
      kind: 'external',
      endpoint: external,
      bucket,
      region,
      description: `S3_ENDPOINT ${external}, bucket ${bucket}`,
      stop: async () => undefined,
    };
  }

  const wanted = process.env.FMA_LOCAL_OBJECT_STORE;
  if (wanted !== undefined && wanted !== '' && wanted !== 'gofakes3' && wanted !== 's3rver') {
    throw new Error(`FMA_LOCAL_OBJECT_STORE must be gofakes3 or s3rver, not "${wanted}"`);
  }
  let kind: 'gofakes3' | 's3rver';
  if (wanted === 'gofakes3' || wanted === 's3rver') kind = wanted;
  else if (hasGo()) kind = 'gofakes3';
  else if (hasS3rver()) kind = 's3rver';
  else {
    throw new Error(
      'No object store available: set S3_ENDPOINT (and S3_BUCKET) to an S3-compatible server, ' +
        'install Go so that the gofakes3 launcher can be built, or run `npm ci` so that s3rver is installed.',
    );
  }

  let child: ChildProcess;
  let version: string;
  if (kind === 'gofakes3') {
    buildLauncher(log);
    child = spawn(launcherBinary, ['-backend', 'memory'], { stdio: ['pipe', 'pipe', 'inherit'] });
    version = `gofakes3 ${goModuleVersion(launcherSource, 'github.com/johannesboyne/gofakes3')} (in-memory backend)`;
  } else {
    child = spawn(process.execPath, [s3rverLauncher], { stdio: ['pipe', 'pipe', 'inherit'] });
    version = `s3rver ${s3rverVersion()}`;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const endpoint = await readAnnouncedEndpoint(child);
    const client = createS3Client({ bucket, endpoint, region, credentials: LOCAL_CREDENTIALS });
    await ensureBucket(client, bucket);
    client.destroy();
    let stopped = false;
    return {
      kind,
      endpoint,
      bucket,
      region,
      credentials: LOCAL_CREDENTIALS,
      description: `${version} at ${endpoint}, bucket ${bucket}`,
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

/** Creates the bucket unless it exists (and is ours). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (error) {
    const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
    if (status !== 404) throw error;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    // Created meanwhile by a parallel caller.
    if (error instanceof S3ServiceException && error.name === 'BucketAlreadyOwnedByYou') return;
    throw error;
  }
}


function hasS3rver(): boolean {
  try {
    require.resolve('s3rver');
    return true;
  } catch {
    return false;
  }
}
function buildLauncher(log: Log): void {
  buildGoLauncher({
    source: launcherSource,
    binary: launcherBinary,
    name: 'gofakes3',
    duration: 'about 20 s',
    log: (message) => log(`object store: ${message}`),
  });
}

function readAnnouncedEndpoint(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('The object-store launcher announced no endpoint within 30 s')), 30_000);
    lines.on('line', (line) => {
      const match = /^S3_ENDPOINT=(.+)$/.exec(line.trim());
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The object-store launcher exited early (${code ?? signal})`));
    });
  });
}

function s3rverVersion(): string {
  return (JSON.parse(readFileSync(require.resolve('s3rver/package.json'), 'utf8')) as { version: string }).version;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
