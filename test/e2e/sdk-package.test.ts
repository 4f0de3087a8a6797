import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';

const root = path.resolve(__dirname, '..', '..');
const sdkFolder = path.join(root, 'sdk');
const consumerFixtures = path.join(root, 'test', 'fixtures', 'sdk-consumer');
const run = promisify(execFile);

/**
 * The environment for npm and node in the consumer project: this process's, without the npm_*
 * variables that `npm test` sets (its cache, its prefix), so the child npm behaves as a user's would.
 */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name))), ...extra };
}

interface PackedFile {
  path: string;
}

/**
 * `npm pack` of sdk/ (its prepack builds dist/ with tsc), then a fresh project that installs the
 * tarball offline: the package has no dependencies, so npm needs nothing but the tarball.
 */
async function packAndInstall(workFolder: string): Promise<{ project: string; tarball: string; files: string[] }> {
  const packed = await run('npm', ['pack', '--json', '--pack-destination', workFolder], { cwd: sdkFolder, env: consumerEnv(), timeout: 120_000 });
  // Lifecycle banners may come before the JSON on stdout.
  const [report] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: PackedFile[] }[];
  const tarball = path.join(workFolder, report!.filename);
  const project = path.join(workFolder, 'project');
  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), `${JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true }, null, 2)}\n`);
  await run('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund', '--cache', path.join(workFolder, 'npm-cache')], {
    cwd: project,
    env: consumerEnv(),
    timeout: 120_000,
  });
  for (const name of await readdir(consumerFixtures)) await copyFile(path.join(consumerFixtures, name), path.join(project, name));
  return { project, tarball, files: report!.files.map((file) => file.path).sort() };
}

/** Runs a script of the consumer project with node and parses the JSON lines it prints. */
async function runConsumerScript(project: string, script: string, env: Record<string, string>): Promise<Record<string, any>[]> {
  const { stdout } = await run(process.execPath, [script], { cwd: project, env: consumerEnv(env), timeout: 180_000 });
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, any>);
}

/**
 * The SDK as its users get it: `npm pack` of sdk/, the tarball installed into a fresh project
 * outside this repository, and node running that project's scripts against serverless-offline, so
 * that nothing but the installed package can answer their `import` and `require`.
 */
describe('the SDK package (@fma-serverless/client), packed, installed into a fresh project, driving a round', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let developerToken: string;
  let workFolder: string;
  let consumer: { project: string; tarball: string; files: string[] };

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    developerToken = (await connector.createDeveloper('dana')).token;
    // Its real path: node reports resolved modules by theirs.
    workFolder = await realpath(await mkdtemp(path.join(os.tmpdir(), 'fma-sdk-package-')));
    // Packing and installing take seconds, serverless-offline's build minutes: side by side.
    [offline, consumer] = await Promise.all([
      startOffline({
        env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
        esbuildWorkFolder: '.esbuild/sdk-package',
        readyTimeoutMs: 280_000,
      }),
      packAndInstall(workFolder),
    ]);
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
  afterAll(async () => {
    await offline?.stop();
    if (workFolder !== undefined) await rm(workFolder, { recursive: true, force: true });
  });

  async function createModel(): Promise<number> {
    const response = await fetch(`${offline.httpUrl}/api/v1/models/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${developerToken}` },
      body: JSON.stringify({
        name: 'packaged',
        aggregator: 'weighted_fedavg',
        requirement: 'require_x_updates',
        requirement_args: [2],
        initial_model: [0, 0, 0, 0],
      }),
    });
    const body = (await response.json()) as { id: number };
    expect(response.status).toBe(201);
    return body.id;
  }

  it('ships the built JavaScript and declarations, README and package.json only, with no dependencies and no import outside itself', async () => {
    expect(consumer.files).toEqual(expect.arrayContaining(['README.md', 'package.json', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json']));
    expect(consumer.files.filter((file) => !/^dist\/(esm|cjs)\/[\w-]+\.(js|d\.ts)$/.test(file))).toEqual(['README.md', 'dist/cjs/package.json', 'package.json']);

    const installed = path.join(consumer.project, 'node_modules', '@fma-serverless', 'client');
    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: '@fma-serverless/client', license: 'Apache-2.0', engines: { node: '>=20' } });
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.peerDependencies).toBeUndefined();
    // Every import and require of the shipped code is one of its own files: no package, no node: module.
    for (const file of consumer.files.filter((name) => name.endsWith('.js'))) {
      const code = await readFile(path.join(installed, file), 'utf8');
      const specifiers = [...code.matchAll(/(?:from\s+|require\()\s*['"]([^'"]+)['"]/g)].map((match) => match[1]);
      for (const specifier of specifiers) expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    }
    // The consumer project depends on the tarball, not on this repository.
    expect(JSON.parse(await readFile(path.join(consumer.project, 'package.json'), 'utf8')).dependencies).toEqual({
      '@fma-serverless/client': `file:../${path.basename(consumer.tarball)}`,
    });
  });

  it('type-checks a consumer\'s import and require under Node.js resolution, without DOM or Node.js types', async () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const checked = await run(process.execPath, [tsc, '-p', '.', '--listFiles'], { cwd: consumer.project, env: consumerEnv() }).catch(
      (error: { stdout: string; stderr: string }) => {
        throw new Error(`tsc failed in the consumer project:\n${error.stdout}${error.stderr}`);
      },
    );
    const declarations = checked.stdout.split('\n').filter((file) => file.includes('node_modules/@fma-serverless/client/'));
    expect(declarations).toEqual(expect.arrayContaining([expect.stringMatching(/dist\/esm\/index\.d\.ts$/), expect.stringMatching(/dist\/cjs\/index\.d\.ts$/)]));
  }, 120_000);

  it('drives a whole round from an ES module: register, a JSON and a binary update, the aggregate, scores, the published artifact', async () => {
    const model = await createModel();
    const lines = await runConsumerScript(consumer.project, 'round.mjs', {
      FMA_URL: offline.httpUrl,
      FMA_MODEL: String(model),
      FMA_DEVELOPER_TOKEN: developerToken,
    });
    const step = (name: string) => {
      const found = lines.find((line) => line.step === name);
      if (found === undefined) throw new Error(`round.mjs printed no "${name}" step:\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
      return found;
    };

    expect(step('resolved').module).toBe(`file://${path.join(consumer.project, 'node_modules', '@fma-serverless', 'client', 'dist', 'esm', 'index.js')}`);
    const [jsonClient, binaryClient] = step('registered').clients as string[];
    expect(jsonClient).toMatch(/^[0-9a-f-]{36}$/);
    expect(binaryClient).toMatch(/^[0-9a-f-]{36}$/);
    expect(binaryClient).not.toBe(jsonClient);
    expect(step('latest-model').model).toEqual({ values: [0, 0, 0, 0], aggregate: null });

    const sent = step('updates-sent');
    expect(sent.json).toMatchObject({ id: expect.any(Number), federated_model: model, data: [1, 2, 3, 4], base_aggregate: null });
    expect(sent.binary).toMatchObject({ id: expect.any(Number), federated_model: model, base_aggregate: null });
    expect(step('run-started')).toMatchObject({ status: 200, run: { started: true } });

    // weighted_fedavg: (30·[1,2,3,4] + 10·[5,6,7,8]) / 40
    const { aggregate } = step('aggregate');
    expect(aggregate).toMatchObject({ id: expect.any(Number), federated_model: model, result: [2, 3, 4, 5] });
    expect(step('aggregate-bytes')).toMatchObject({ values: [2, 3, 4, 5], array: expect.stringMatching(/^Float(32|64)Array$/), aggregate: aggregate.id });

    const scored = step('scored');
    expect(scored.scores).toEqual([
      expect.objectContaining({ id: expect.any(Number), aggregate: aggregate.id }),
      expect.objectContaining({ id: expect.any(Number), aggregate: aggregate.id }),
    ]);
    // A second score of one aggregate by one client is refused, and thrown as the package's error.
    expect(scored.again).toEqual({ isFmaApiError: true, name: 'FmaApiError', status: 400 });

    expect(step('published').status).toBe(201);
    expect(step('artifact').artifact).toMatchObject({ federated_model: model, version: '2.0.0', values: [2, 3, 4, 5] });

    // The service agrees with what the client was told.
    const updates = await database.db.collection('model_updates').find({ federatedModel: model }).toArray();
    expect(updates.map((update) => update._id).sort()).toEqual([sent.json.id, sent.binary.id].sort());
    expect(await database.db.collection('client_aggregate_scores').countDocuments({ aggregate: aggregate.id })).toBe(2);
  }, 240_000);

  it('works through require() as well: registers, and throws refusals as its FmaApiError', async () => {
    const model = await createModel();
    const [line] = await runConsumerScript(consumer.project, 'register.cjs', { FMA_URL: offline.httpUrl, FMA_MODEL: String(model) });
    expect(line).toEqual({
      module: path.join(consumer.project, 'node_modules', '@fma-serverless', 'client', 'dist', 'cjs', 'index.js'),
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      refused: { isFmaApiError: true, name: 'FmaApiError', status: 404 },
    });
  }, 60_000);
});
