/**
 * `npm run schemathesis`: runs schemathesis (PyPI) against the service under serverless-offline,
 * on loopback only, with the OpenAPI description the service serves (GET /api/v1/openapi.json).
 * It resolves a database and an object store as `npm start` does, makes a developer token, a
 * model and a registered client for the credentials (schemathesis.toml), and fails unless
 * schemathesis reports nothing: no server errors, no answers outside the schema, no undocumented
 * status codes. Bounded in examples and time. Every check runs but those schemathesis.toml turns
 * off, each with the reason beside it (on the command line, `--checks` would override that file).
 *
 *   npm run schemathesis                    (schemathesis from .cache/schemathesis-venv, or SCHEMATHESIS_BIN)
 *   SCHEMATHESIS_MAX_TIME=120 npm run schemathesis
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { create } from '../lib/connector';
import { resolveDatabase } from './database/resolve-database';
import { objectStoreEnv, resolveObjectStore } from './object-store/resolve-object-store';
import { startOffline } from './offline';

const projectRoot = path.resolve(__dirname, '..');

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
  const database = await resolveDatabase();
  const store = await resolveObjectStore().catch(async (error: unknown) => {
    await database.stop();
    throw error;
  });
  let offline: Awaited<ReturnType<typeof startOffline>> | undefined;
  try {
    const dbName = `schemathesis_${Date.now()}`;
    const connector = create('MongoMetadataConnector', { connection_string: database.uri, database_name: dbName });
    let token: string;
    try {
      await connector.updateDatabase();
      token = (await connector.createDeveloper('schemathesis')).token;
    } finally {
      await connector.close();
    }
    offline = await startOffline({
      env: {
        MONGODB_URI: database.uri,
        MONGODB_DB_NAME: dbName,
        AGGREGATION_EXECUTOR: 'local',
        ...objectStoreEnv(store),
      },
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
      '--max-examples',
      process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '25',
      '--max-time',
      process.env.SCHEMATHESIS_MAX_TIME ?? '300',
      // One worker: with two, hypothesis's lambda descriptions race in CPython's ast.parse
      // ("AST constructor recursion depth mismatch"), an error of the tool, not of the API.
      '--workers',
      '1',
      '--request-timeout',
      '30',
      '--generation-database',
      'none',
      ...(process.argv.slice(2)),
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
