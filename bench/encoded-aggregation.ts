/**
 * Benchmark of issue #26: one whole aggregation run (the deployed state machine under the local
 * executor, as bench/aggregation-run.ts) over N updates of P values uploaded in each dtype
 * (float64, float32, float16, bfloat16, int8), in one process run after another on the same
 * machine: wall time, peak RSS, bytes read from the store, and bytes per client upload.
 *
 *   npx tsx bench/encoded-aggregation.ts            # 100x1M in every dtype (about 5-10 min on a loaded 2-core machine)
 *   npx tsx bench/encoded-aggregation.ts --full     # + 100x10M (tens of GB through the store: long)
 *   npx tsx bench/encoded-aggregation.ts 10x100000  # other sizes (N x P)
 *
 * Updates go in through the binary upload route's connector calls (declare, PUT to the
 * presigned URL, complete: checked as clients' are); ten distinct updates are cycled so seeding
 * stays short. The parent checks each aggregate bit for bit against the mean of the decoded
 * values it kept while seeding. Figures go to bench/results/encoded-aggregation.json.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { accumulate } from '../lib/algorithms';
import { MongoMetadataConnector } from '../lib/connector';
import { decodeValues, encodeValues, type WeightsDtype } from '../lib/weights';
import { aggregateInThisProcess, deleteStoredPrefixes, gitCommit, runInChild, type AggregationRunFigures } from './child-run';
import { resolveBenchServices } from './services';

const DTYPES: WeightsDtype[] = ['float64', 'float32', 'float16', 'bfloat16', 'int8'];
/** Targets of issue #26, as fractions of the float32 run's wall time (RSS: not above float32's). */
const TIME_TARGETS: Partial<Record<WeightsDtype, number>> = { float16: 0.6, bfloat16: 0.6, int8: 0.4 };
const DISTINCT_UPDATES = 10;

async function parent(): Promise<void> {
  const args = process.argv.slice(2);
  const sizes = args.filter((arg) => /^\d+x\d+$/.test(arg));
  const cases = (sizes.length > 0 ? sizes : ['100x1000000', ...(args.includes('--full') ? ['100x10000000'] : [])]).map(
    (spec) => spec.split('x').map(Number) as [number, number],
  );
  const services = await resolveBenchServices();
  const { database, objectStore, store } = services;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(1)}`;
  console.log(`encoded aggregation: database ${database.description}; store ${objectStore.description}; ${machine}`);
  const client = await new MongoClient(database.uri).connect();
  const results = [];
  try {
    for (const [updates, parameters] of cases) {
      const byDtype: Record<string, { wallSeconds: number; peakRssMiB: number }> = {};
      for (const dtype of DTYPES) {
        const name = `bench_enc_${dtype}_${updates}x${parameters}_${Date.now()}`;
        const connector = new MongoMetadataConnector(client.db(name), { store });
        await connector.updateDatabase();
        const members = await Promise.all(Array.from({ length: Math.min(updates, DISTINCT_UPDATES) }, () => connector.createClient()));
        const model = await connector.createFederatedModel({ name, aggregator: 'avg_values_if_data', clients: members.map((member) => member.id) });
        // Ten distinct updates, encoded once each, uploaded in turn (not timed).
        const payloads = Array.from({ length: Math.min(updates, DISTINCT_UPDATES) }, (_, u) => {
          const bytes = encodeValues(Float64Array.from({ length: parameters }, (_, i) => Math.sin(u * 7919 + i) * 10), dtype);
          return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), values: Float64Array.from(decodeValues(bytes, dtype, parameters, new Float32Array(parameters))) };
        });
        const expected = new Float64Array(parameters);
        for (let u = 0; u < updates; u += 1) {
          const payload = payloads[u % payloads.length]!;
          const member = members[u % members.length]!.id;
          const upload = await connector.createModelUpdateUpload({ federatedModel: model.id, client: member, dtype, shapes: [[parameters]], sha256: payload.sha256 });
          const put = await fetch(upload.url, { method: 'PUT', body: payload.bytes, headers: { 'content-type': 'application/octet-stream' } });
          if (!put.ok) throw new Error(`PUT answered ${put.status}`);
          await connector.completeModelUpdateUpload(upload.id, member);
          accumulate(expected, payload.values, 1);
        }
        for (let i = 0; i < parameters; i += 1) expected[i]! /= updates;
        const figures = await runInChild<AggregationRunFigures>(__filename, [String(model.id)], {
          MONGODB_URI: database.uri,
          MONGODB_DB_NAME: name,
          ...services.storeEnv,
          AGGREGATION_EXECUTOR: 'local',
        });
        if (figures.finalState !== 'Aggregated') throw new Error(`${dtype} ${updates}x${parameters}: the run ended ${figures.finalState}`);
        const aggregate = (await connector.pullModelAggregateWeights(figures.aggregate))!.values;
        const exact = aggregate.every((value, i) => Object.is(value, expected[i]));
        const uploadBytes = payloads[0]!.bytes.byteLength;
        const readBytes = uploadBytes * updates;
        byDtype[dtype] = figures;
        const float32 = byDtype.float32;
        const ratio = float32 === undefined ? null : figures.wallSeconds / float32.wallSeconds;
        const target = TIME_TARGETS[dtype];
        const verdict = ratio === null || target === undefined ? '' : `; ${ratio.toFixed(2)}x float32's time (${ratio <= target ? 'meets' : 'MISSES'} ${target}x), RSS ${figures.peakRssMiB <= float32!.peakRssMiB ? 'not above' : 'ABOVE'} float32's`;
        console.log(
          `${String(updates).padStart(4)} x ${parameters.toLocaleString('en-US').padStart(10)} ${dtype.padEnd(8)}: ${figures.wallSeconds.toFixed(2)} s, ` +
            `peak RSS ${figures.peakRssMiB.toFixed(0)} MiB, read ${(readBytes / 1e9).toFixed(3)} GB, ${(uploadBytes / 2 ** 20).toFixed(2)} MiB per upload; ` +
            `aggregate ${exact ? 'exact' : 'WRONG'}${verdict}`,
        );
        if (!exact) process.exitCode = 1;
        results.push({ dtype, updates, parameters, ...figures, readBytes, uploadBytes, exact, ratioToFloat32: ratio, timeTarget: target ?? null });
        await client.db(name).dropDatabase();
        await deleteStoredPrefixes(store, [`updates/${model.id}/`, `aggregates/${model.id}/`]);
      }
    }
  } finally {
    await client.close();
    await services.stop();
  }
  const file = path.join(__dirname, 'results', 'encoded-aggregation.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ measuredOn: new Date().toISOString(), machine, database: database.description, store: objectStore.description, commit: gitCommit(), results }, null, 2)}\n`);
  console.log(`figures written to ${path.relative(process.cwd(), file)}`);
}

(process.argv[2] === '--child' ? aggregateInThisProcess(Number(process.argv[3])) : parent()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
