/**
 * Benchmark (issue #24 item 6): a 2 GiB binary update, the largest an upload may declare,
 * declared, PUT and completed through serverless-offline, the database and the object store.
 * Completion hands it to the verification function (it is over UPLOAD_VERIFY_INLINE_MB), which
 * copies and checks it while the client polls: prints the PUT, the 202 answer, the verification
 * and the whole completion.
 *
 *   npx tsx bench/large-upload.ts              # 2 GiB of float32
 *   npx tsx bench/large-upload.ts --mib 512    # a smaller one
 *
 * Figures go to bench/results/large-upload.json.
 */
import { createHash } from 'node:crypto';
import { create } from '../lib/connector';
import { startOffline } from '../scripts/offline';
import { writeResults } from './results-file';
import { resolveBenchServices } from './services';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

async function main(): Promise<void> {
  const mib = option('mib', 2_048);
  const length = (mib * 1024 ** 2) / 4;
  const services = await resolveBenchServices();
  const { database } = services;
  console.log(`database: ${database.description}; store: ${services.objectStore.description}`);
  let offline: Awaited<ReturnType<typeof startOffline>> | undefined;
  try {
    const databaseName = `bench_large_upload_${Date.now()}`;
    const connector = create('MongoMetadataConnector', { connection_string: database.uri, database_name: databaseName });
    let model: number;
    let credential: string;
    try {
      await connector.updateDatabase();
      const client = await connector.createClient();
      credential = client.credential;
      model = (await connector.createFederatedModel({ name: 'large upload bench', aggregator: 'avg_values_if_data', clients: [client.id], allowAggregation: false })).id;
    } finally {
      await connector.close();
    }
    offline = await startOffline({
      env: { MONGODB_URI: database.uri, MONGODB_DB_NAME: databaseName, AGGREGATION_EXECUTOR: 'local', ...services.storeEnv },
    });
    const api = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`${offline!.httpUrl}${path}`, {
        method,
        headers: { 'content-type': 'application/json', 'client-uuid': credential },
        body: JSON.stringify(body),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
    };

    const values = new Float32Array(length);
    for (let i = 0; i < length; i += 1) values[i] = (i % 4096) / 4096 - 0.5;
    const bytes = new Uint8Array(values.buffer);
    const hash = createHash('sha256'); // in parts: one update takes under 2 GiB
    for (let offset = 0; offset < bytes.byteLength; offset += 256 * 1024 ** 2) hash.update(bytes.subarray(offset, offset + 256 * 1024 ** 2));
    const sha256 = hash.digest('hex');
    const declared = await api('POST', '/api/v1/model_updates/uploads/', { federated_model: model, dtype: 'float32', shapes: [[length]], sha256 });
    if (declared.status !== 201) throw new Error(`declaring answered ${declared.status}: ${JSON.stringify(declared.body)}`);

    let started = performance.now();
    const put = await fetch(declared.body.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 200) throw new Error(`the PUT answered ${put.status}: ${await put.text()}`);
    const putSeconds = (performance.now() - started) / 1000;

    started = performance.now();
    const first = await api('POST', declared.body.complete, {});
    const firstAnswerMs = performance.now() - started;
    let answer = first;
    let polls = 1;
    while (answer.status === 202) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      answer = await api('POST', declared.body.complete, {});
      polls += 1;
    }
    const completionSeconds = (performance.now() - started) / 1000;
    if (answer.status !== 200) throw new Error(`completion answered ${answer.status}: ${JSON.stringify(answer.body)}`);

    const figure = {
      mib,
      dtype: 'float32',
      values: length,
      putSeconds: Number(putSeconds.toFixed(1)),
      firstAnswer: { status: first.status, retryAfter: Number(first.headers.get('retry-after')), ms: Math.round(firstAnswerMs) },
      completionSeconds: Number(completionSeconds.toFixed(1)),
      polls,
      verifiedMiBPerSecond: Math.round(mib / completionSeconds),
      update: answer.body.id,
    };
    console.log(
      `${mib} MiB float32 upload: PUT ${figure.putSeconds} s; completion answered ${first.status} in ${figure.firstAnswer.ms} ms ` +
        `(Retry-After ${figure.firstAnswer.retryAfter} s); verified and created update ${figure.update} after ${figure.completionSeconds} s ` +
        `(${figure.verifiedMiBPerSecond} MiB/s, copy and check, ${polls} completion requests)`,
    );
    writeResults('large-upload', `${database.description}; store: ${services.objectStore.description}`, [figure]);
  } finally {
    await offline?.stop();
    await services.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
