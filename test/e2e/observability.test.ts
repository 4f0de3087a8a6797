import { createHash } from 'node:crypto';
import { MongoMetadataConnector } from '../../lib/connector';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { httpApi } from '../helpers/http-api';

/**
 * Issue #27: what the functions write while a whole round goes through serverless-offline (real
 * HTTP, the database, the store, the state machine on the local executor), read from the
 * process's output: every line of ours is JSON with the keys an operator filters on, no line
 * holds a credential, a token, a presigned URL's signature or the connection string, and the
 * round's metrics (CloudWatch embedded metric format) carry the right values.
 */
describe('logs and metrics of a round', () => {
  const database = useTestDatabase();
  let offline: RunningOffline;
  let token: string;
  const api = httpApi(() => offline.httpUrl);
  const output: string[] = [];
  // The connection string carries a sentinel (as an application name, which the driver sends to
  // the server and nothing else): it must appear in no line.
  const CONNECTION_SENTINEL = 'conn-sentinel-7c1d';
  const BOGUS_TOKEN = 'token-sentinel-5b2e';
  const BOGUS_CLIENT = '0b8f9d8e-6f1c-4c47-9d3e-5e17a5e1c0de';

  beforeAll(async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    token = (await connector.createDeveloper('operator')).token;
    const uri = new URL(testMongoUri());
    uri.searchParams.set('appName', CONNECTION_SENTINEL);
    offline = await startOffline({
      env: {
        MONGODB_URI: uri.toString(),
        MONGODB_DB_NAME: database.name,
        AGGREGATION_EXECUTOR: 'local',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_DISABLED: 'false',
      },
      esbuildWorkFolder: '.esbuild/observability',
      readyTimeoutMs: 280_000,
      onOutput: (text) => output.push(text),
    });
  }, 300_000);
  afterAll(() => offline?.stop());

  /** Lines the functions wrote: JSON objects (serverless-offline's own lines are plain text). */
  const jsonLines = () =>
    output
      .join('')
      .split('\n')
      .filter((line) => line.trimStart().startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, any>);

  it('logs every invocation as JSON lines with its keys, no secret in any line, and publishes the round\'s metrics', async () => {
    const model = (await api('POST', '/api/v1/models/', { token, body: { name: 'observed', aggregator: 'avg_values_if_data' } })).body.id as number;
    const credentials: string[] = [];
    for (let i = 0; i < 3; i += 1) credentials.push((await api('POST', `/api/v1/models/${model}/register_client/`)).body.uuid);

    // Two JSON updates and one binary one, accepted; three refused, each for another reason.
    const bodies = [
      { federated_model: model, data: [1, 2, 3] },
      { federated_model: model, data: [3, 4, 5] },
    ];
    for (const [i, body] of bodies.entries()) expect((await api('POST', '/api/v1/model_updates/', { client: credentials[i]!, body })).status).toBe(201);
    const values = Float64Array.from([5, 6, 7]);
    const bytes = new Uint8Array(values.buffer);
    const declared = await api('POST', '/api/v1/model_updates/uploads/', {
      client: credentials[2]!,
      body: { federated_model: model, dtype: 'float64', shapes: [[3]], sha256: createHash('sha256').update(bytes).digest('hex') },
    });
    const signature = new URL(declared.body.url).searchParams.get('X-Amz-Signature');
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect((await fetch(declared.body.url, { method: 'PUT', body: bytes })).status).toBe(200);
    expect((await api('POST', declared.body.complete, { client: credentials[2]!, body: {} })).status).toBe(201);
    expect((await api('POST', '/api/v1/model_updates/', { client: credentials[0]!, body: { federated_model: model, data: [1, 2] } })).status).toBe(400);
    expect((await api('POST', '/api/v1/model_updates/', { client: BOGUS_CLIENT, body: bodies[0] })).status).toBe(403);
    expect((await api('GET', '/api/v1/models/', { headers: { authorization: `Token ${BOGUS_TOKEN}` } })).status).toBe(401);

    // The round, through the state machine.
    const started = await fetch(`${offline.httpUrl}/aggregation/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model }) });
    const { status_url: statusUrl } = (await started.json()) as { status_url: string };
    let run: { status: string } = { status: 'RUNNING' };
    for (let i = 0; i < 120 && run.status === 'RUNNING'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      run = (await (await fetch(`${offline.httpUrl}${statusUrl}`)).json()) as { status: string };
    }
    expect(run.status).toBe('SUCCEEDED');
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last lines reach the output

    const lines = jsonLines();
    const logs = lines.filter((line) => line._aws === undefined);
    const emf = lines.filter((line) => line._aws !== undefined);
    // Every log line: level, message, time, service, cold start, function and request id.
    expect(logs.length).toBeGreaterThan(20);
    for (const line of logs) {
      expect(line).toEqual(
        expect.objectContaining({
          level: expect.any(String),
          message: expect.any(String),
          timestamp: expect.any(String),
          service: 'fma-serverless',
          cold_start: expect.any(Boolean),
          function_name: expect.any(String),
          function_request_id: expect.any(String),
        }),
      );
    }
    // One outcome line per invocation, with what the request was about.
    const accepted = logs.filter((line) => line.message === 'answered' && line.status === 201 && line.update !== undefined);
    expect(accepted.map((line) => line.model)).toEqual([model, model, model]);
    expect(accepted.every((line) => typeof line.client === 'string' && !credentials.includes(line.client))).toBe(true);
    expect(logs.filter((line) => line.message === 'refused').map((line) => [line.status, line.error.name])).toEqual(
      expect.arrayContaining([
        [400, 'ValidationError'],
        [403, 'ForbiddenError'],
        [401, 'UnauthorizedError'],
      ]),
    );
    const tasks = logs.filter((line) => line.message === 'done' && line.model === model);
    expect(tasks.length).toBeGreaterThanOrEqual(6); // lease, model, requirement, claim, aggregate, complete, release...
    // The tasks that name the run (all but the connector operations' PullLatestAggregate) name one.
    expect(new Set(tasks.filter((line) => line.run !== undefined).map((line) => line.run)).size).toBe(1);
    expect(logs.filter((line) => line.level === 'ERROR')).toEqual([]);

    // No secret anywhere in the output, JSON or not.
    const everything = output.join('');
    for (const secret of [...credentials, token, BOGUS_TOKEN, BOGUS_CLIENT, CONNECTION_SENTINEL, signature!]) expect(everything).not.toContain(secret);

    // The metrics: one namespace, the values of this round.
    const sum = (name: string, dimensions: Record<string, string> = {}) =>
      emf
        .filter((line) => line._aws.CloudWatchMetrics[0].Namespace === 'FmaServerless' && name in line)
        .filter((line) => Object.entries(dimensions).every(([key, value]) => line[key] === value))
        .reduce((total, line) => total + [line[name]].flat().reduce((a: number, b: number) => a + b, 0), 0);
    expect(sum('UpdatesAccepted')).toBe(3);
    const jsonBytes = bodies.reduce((total, body) => total + Buffer.byteLength(JSON.stringify(body)), 0);
    expect(sum('BytesUploaded')).toBe(jsonBytes + bytes.byteLength);
    expect(sum('UpdatesRefused', { reason: 'ValidationError' })).toBe(1);
    expect(sum('UpdatesRefused', { reason: 'ForbiddenError' })).toBe(1);
    expect(sum('RunsStarted', { trigger: 'manual' })).toBe(1);
    expect(sum('RunsAggregated')).toBe(1);
    expect(sum('UpdatesPerRun')).toBe(3);
    expect(sum('RunsFailed')).toBe(0);
    expect(sum('RunDuration')).toBeGreaterThan(0);
    expect(sum('BytesAggregatedPerSecond')).toBeGreaterThan(0);
    // Dimensions stay few: the service, and a reason or a trigger.
    for (const line of emf) {
      for (const dimensions of line._aws.CloudWatchMetrics[0].Dimensions as string[][]) expect(dimensions.length).toBeLessThanOrEqual(2);
    }
  }, 180_000);
});
