/**
 * `npm run schemathesis`: runs schemathesis (PyPI) against the service under serverless-offline,
 * on loopback only, with the OpenAPI description the service serves (GET /api/v1/openapi.json).
 * It resolves a database and an object store as `npm start` does, makes a developer token, a
 * model and a registered client for the credentials (schemathesis.toml), and fails unless
 * schemathesis reports nothing: no server errors, no answers outside the schema, no undocumented
 * status codes. Bounded in examples and time. Every check runs but those schemathesis.toml turns
 * off, each with the reason beside it (on the command line, `--checks` would override that file).
 *
 * Two modes (issue #31):
 *   npm run schemathesis        the landing check (.ci/run): a fixed seed, deterministic generation
 *                               and a bound in examples, not time, so a given commit always gets the
 *                               same cases and the same answer; a JUnit report in test-results/.
 *   npm run fuzz                exploration: a fresh random seed each time, bounded in time; prints
 *                               the seed first and last, and the command that replays it
 *                               (`npm run fuzz -- --seed <seed>`). Run it before a stop.
 * schemathesis comes from .cache/schemathesis-venv (made by .ci/run), or SCHEMATHESIS_BIN.
 * SCHEMATHESIS_SEED, SCHEMATHESIS_MAX_EXAMPLES and SCHEMATHESIS_MAX_TIME override the bounds.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { freshDatabaseWithDeveloper, localServiceEnv } from './local-service';
import { resolveDatabase } from './database/resolve-database';
import { resolveObjectStore } from './object-store/resolve-object-store';
import { startOffline } from './offline';

const projectRoot = path.resolve(__dirname, '..');

/** The seed of the landing check: changing it changes which cases CI runs, so change it on purpose. */
const LANDING_SEED = '20261205';

interface RunMode {
  readonly fuzz: boolean;
  readonly seed: string;
  /** Arguments for schemathesis besides the mode's own. */
  readonly passThrough: readonly string[];
}

/** `--fuzz` selects exploration; `--seed N` replays a seed; everything else goes to schemathesis. */
function runMode(argv: readonly string[]): RunMode {
  const passThrough: string[] = [];
  let fuzz = false;
  let seed: string | undefined = process.env.SCHEMATHESIS_SEED;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--fuzz') fuzz = true;
    else if (argv[i] === '--seed') seed = argv[++i];
    else passThrough.push(argv[i]!);
  }
  // Python's random seeds are arbitrary integers; 2^48 keeps them short enough to type back.
  return { fuzz, seed: seed ?? (fuzz ? String(randomInt(2 ** 48 - 1)) : LANDING_SEED), passThrough };
}

/** The generation arguments of a mode: deterministic and bounded in examples, or random and bounded in time. */
function generationArgs(mode: RunMode): string[] {
  // No example database: every run starts from its seed alone, so that the seed replays it.
  const common = ['--seed', mode.seed, '--max-examples', process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '100', '--generation-database', 'none'];
  // With --max-time the fuzzing and stateful phases draw cases until the time is spent: fuzz.
  if (mode.fuzz) return [...common, '--max-time', process.env.SCHEMATHESIS_MAX_TIME ?? '300'];
  // The landing run has no --max-time, so it ends after its examples, the same ones on every run
  // (a time bound cut it at another case each time). Not `--generation-deterministic`, which
  // also makes the phases run until a time bound (94,000 cases in 20 minutes here).
  return [
    ...common,
    '--report', 'junit',
    '--report-junit-path', path.join(projectRoot, 'test-results', 'schemathesis.xml'),
  ];
}

function schemathesisBin(): string {
  const bin = process.env.SCHEMATHESIS_BIN ?? path.join(projectRoot, '.cache', 'schemathesis-venv', 'bin', 'st');
  if (!existsSync(bin)) {
    throw new Error(`schemathesis is not at ${bin}: .ci/run installs it (pip install schemathesis), or set SCHEMATHESIS_BIN`);
  }
  return bin;
}

async function json(response: Response): Promise<any> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.url} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * One round's worth of data, so that generated requests find existing rows (an update, an
 * aggregate, an artifact, a score: id 1 of each) and reach past the 404s.
 */
async function seedRound(base: string, token: string, model: number, client: string): Promise<void> {
  const post = (route: string, body: unknown, headers: Record<string, string>) =>
    fetch(`${base}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(json);
  await post('/api/v1/model_updates/', { federated_model: model, data: [1, 2, 3] }, { 'CLIENT-UUID': client });
  const run = await post('/aggregation/run', { model }, {});
  for (let polls = 0; ; polls += 1) {
    const status = await fetch(`${base}${run.status_url}`).then(json);
    if (status.status === 'SUCCEEDED') break;
    if (status.status === 'FAILED' || polls > 300) throw new Error(`the seeding run did not succeed: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [aggregate] = await fetch(`${base}/api/v1/model_aggregates/?federated_model=${model}`, { headers: { authorization: `Token ${token}` } }).then(json);
  await post(`/api/v1/model_aggregates/${aggregate.id}/publish_aggregate/`, { version: '1.0.0' }, { authorization: `Token ${token}` });
  await post('/api/v1/client_aggregate_scores/', { aggregate: aggregate.id, validation_results: { accuracy: 0.5 } }, { 'CLIENT-UUID': client });
}

async function main(): Promise<number> {
  const bin = schemathesisBin();
  const mode = runMode(process.argv.slice(2));
  const replay = `npm run fuzz -- --seed ${mode.seed}`;
  if (mode.fuzz) console.error(`schemathesis fuzz seed ${mode.seed} (replay: ${replay})`);
  const database = await resolveDatabase();
  const store = await resolveObjectStore().catch(async (error: unknown) => {
    await database.stop();
    throw error;
  });
  let offline: Awaited<ReturnType<typeof startOffline>> | undefined;
  try {
    const { dbName, token } = await freshDatabaseWithDeveloper(database.uri, 'schemathesis');
    offline = await startOffline({
      env: localServiceEnv(database.uri, dbName, store),
      esbuildWorkFolder: '.esbuild/schemathesis',
      readyTimeoutMs: 280_000,
    });
    const base = offline.httpUrl;
    const model = await json(
      await fetch(`${base}/api/v1/models/`, {
        method: 'POST',
        headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'schemathesis', aggregator: 'avg_values_if_data' }),
      }),
    );
    const registered = await json(await fetch(`${base}/api/v1/models/${model.id}/register_client/`, { method: 'POST' }));
    await seedRound(base, token, model.id, registered.uuid);
    const args = [
      'run',
      `${base}/api/v1/openapi.json`,
      '--url',
      base,
      '--phases',
      'examples,coverage,fuzzing,stateful',
      ...generationArgs(mode),
      // One worker: with two, hypothesis's lambda descriptions race in CPython's ast.parse
      // ("AST constructor recursion depth mismatch"), an error of the tool, not of the API.
      '--workers',
      '1',
      '--request-timeout',
      '30',
      ...mode.passThrough,
    ];
    console.error(`schemathesis ${args.join(' ')}`);
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(bin, args, {
        cwd: projectRoot,
        stdio: 'inherit',
        env: { ...process.env, FMA_DEVELOPER_TOKEN: token, FMA_CLIENT_UUID: registered.uuid, NO_COLOR: '1' },
      });
      child.once('error', reject);
      child.once('exit', (code) => resolve(code ?? 1));
    }).then((code) => {
      if (mode.fuzz) console.error(`schemathesis fuzz seed ${mode.seed}: ${code === 0 ? 'no failure' : 'FAILED'} (replay: ${replay})`);
      return code;
    });
  } finally {
    await offline?.stop();
    await Promise.all([database.stop(), store.stop()]);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
