/**
 * Benchmark (issue #14): one round aggregated by the single task, then by K shards, each shard in a
 * process of its own (as each is its own Lambda on AWS), so that its peak RSS is its own.
 *
 *   npx tsx bench/sharded-aggregation.ts                 # 100 x 1M and 4 x 80M float32, K = 1, 2, 4, 8
 *   npx tsx bench/sharded-aggregation.ts 100x1000000     # one size (N x P)
 *
 * A sharded run is timed in three steps, as the state machine runs it: the planning task (lease,
 * claim, plan, manifest; the local executor halted right after PlanAggregation), the K shard
 * tasks (two at a time: this machine has 2 cores; on AWS the Distributed Map runs them all at
 * once), and the completion (join the parts, hash, record, complete the updates). The wall time
 * is their sum. Every sharded aggregate is checked against the single task's SHA-256. Between
 * runs the round's updates are put back (PENDING, no aggregate), so every run aggregates the
 * same inputs. Figures go to bench/results/sharded-aggregation.json.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { MongoClient } from 'mongodb';
import { MongoMetadataConnector } from '../lib/connector';
import { UpdateStatus } from '../lib/entities';
import { gitCommit, runInChild } from './child-run';
import { writeResults } from './results-file';
import { resolveBenchServices } from './services';
import { pullShardManifest } from '../lib/store/weights';
import { getObjectStore } from '../lib/store';

/** The aggregation functions' configured memory (serverless.yml). */
const FUNCTION_MEMORY_MIB = 1769;
const CASES: Record<string, { ks: readonly number[]; minPartBytes: number }> = {
  // A 1M-value aggregate is 8 MB: S3's 5 MiB part minimum allows one shard (and a remainder), and
  // one task holds the round anyway. The local store takes smaller parts, so K can be swept here
  // to see how a shard's memory falls with its range.
  '100x1000000': { ks: [1, 2, 4, 8], minPartBytes: 8 },
  // 24 to 32 bytes a value for the single task (a float64 sum and four float32 reads in flight):
  // about 2 GiB here, more than the function's 1,769 MB. Parts at S3's own minimum.
  '4x80000000': { ks: [2, 4, 8], minPartBytes: 5 * 1024 * 1024 },
};
const SHARDS_AT_ONCE = 2;

async function child(): Promise<void> {
  const [mode, model, run, extra, minPartBytes] = process.argv.slice(3) as [string, string, string, string, string];
  const started = performance.now();
  let output: Record<string, unknown> = {};
  if (mode === 'single' || mode === 'plan') {
    const { executeAggregationLocally } = await import('../test/helpers/local-execution');
    const result = await executeAggregationLocally(
      { model: Number(model), run },
      mode === 'single' ? { shardLimits: { sharding: 'off' } } : { haltAfter: 'PlanAggregation', shardLimits: { fixedShards: Number(extra), minPartBytes: Number(minPartBytes) } },
    );
    output = { status: result.status, finalState: result.finalState };
  } else if (mode === 'shard') {
    const { aggregateShard } = await import('../lib/aggregation/sharded-aggregation');
    const { getConnector } = await import('../lib/connector');
    output = await aggregateShard(getConnector(), { model: Number(model), run, shard: Number(extra), leaseSeconds: 600 });
  } else {
    const { completeShardedRun } = await import('../lib/aggregation/sharded-aggregation');
    const { getConnector } = await import('../lib/connector');
    const connector = getConnector();
    const { aggregate } = await completeShardedRun(connector, { model: Number(model), run, leaseSeconds: 600 });
    await connector.completeRun(Number(model), run, aggregate.id);
    await connector.releaseAggregationLease(Number(model), run);
    output = { aggregate: aggregate.id };
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ ...output, seconds, peakRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
  process.exit(0);
}

interface StepFigures {
  readonly seconds: number;
  readonly peakRssMiB: number;
  readonly status?: string;
  readonly finalState?: string;
  readonly aggregate?: number;
}

async function parent(): Promise<void> {
  const wanted = process.argv.slice(2).filter((arg) => /^\d+x\d+$/.test(arg));
  const cases = Object.entries(CASES).filter(([key]) => wanted.length === 0 || wanted.includes(key));
  const services = await resolveBenchServices();
  const { database, objectStore, store } = services;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0]!.toFixed(1)}, Node ${process.version}`;
  console.log(`sharded aggregation: database ${database.description}; store ${objectStore.description}; ${machine}`);
  const client = await new MongoClient(database.uri).connect();
  const results: unknown[] = [];
  let runs = 0;
  try {
    for (const [key, { ks, minPartBytes }] of cases) {
      const [updates, values] = key.split('x').map(Number) as [number, number];
      const name = `bench_shards_${key}_${Date.now()}`;
      const db = client.db(name);
      const connector = new MongoMetadataConnector(db, { store });
      await connector.updateDatabase();
      const members = await Promise.all(Array.from({ length: updates }, () => connector.createClient()));
      const model = await connector.createFederatedModel({ name, aggregator: 'avg_values_if_data', clients: members.map((m) => m.id) });
      // Seed float32 updates through the presigned upload path (not timed).
      const seedStarted = performance.now();
      for (let u = 0; u < updates; u += 1) {
        const data = new Float32Array(values);
        for (let i = 0; i < values; i += 1) data[i] = Math.sin(u * 7919 + i) * 10;
        const bytes = new Uint8Array(data.buffer);
        const upload = await connector.createModelUpdateUpload({
          federatedModel: model.id,
          client: members[u]!.id,
          dtype: 'float32',
          shapes: [[values]],
          sha256: createHash('sha256').update(bytes).digest('hex'),
        });
        const response = await fetch(upload.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
        if (!response.ok) throw new Error(`seeding: PUT ${response.status}`);
        await connector.completeModelUpdateUpload(upload.id, members[u]!.id);
      }
      console.log(`${key}: seeded ${((updates * values * 4) / 2 ** 20).toFixed(0)} MiB of float32 in ${((performance.now() - seedStarted) / 1000).toFixed(0)} s`);
      const env = {
        MONGODB_URI: database.uri,
        MONGODB_DB_NAME: name,
        ...services.storeEnv,
        AGGREGATION_EXECUTOR: 'local',
        AGGREGATION_LEASE_SECONDS: '600',
      };
      const step = (args: string[]) => runInChild<StepFigures>(__filename, args, env);
      // Every run aggregates the same round: its updates back to PENDING, its aggregate gone.
      const reset = async () => {
        await db.collection('model_aggregates').deleteMany({ federatedModel: model.id });
        await db
          .collection('model_updates')
          .updateMany({ federatedModel: model.id }, { $set: { status: UpdateStatus.PENDING, claimedBy: null, appliedAggregate: null } });
      };
      const shaOfLatest = async () => (await connector.pullLatestModelAggregate(model))?.weights.sha256 ?? null;

      const single = await step(['single', String(model.id), `bench-${++runs}`, '-']);
      const reference = await shaOfLatest();
      const singleVerdict = single.peakRssMiB > FUNCTION_MEMORY_MIB ? `OVER the function's ${FUNCTION_MEMORY_MIB} MB` : `within ${FUNCTION_MEMORY_MIB} MB`;
      console.log(`${key} single task: ${single.seconds.toFixed(2)} s, peak RSS ${single.peakRssMiB.toFixed(0)} MiB (${singleVerdict}); ${single.finalState}`);
      results.push({ case: key, updates, values, k: 0, wallSeconds: single.seconds, peakRssMiB: single.peakRssMiB, finalState: single.finalState });

      for (const asked of ks) {
        await reset();
        const run = `bench-${++runs}`;
        const plan = await step(['plan', String(model.id), run, String(asked), String(minPartBytes)]);
        if (plan.status !== 'HALTED') throw new Error(`${key} K=${asked}: the plan ended ${plan.status} at ${plan.finalState}`);
        const k = (await pullShardManifest(getObjectStore(), model.id, run))!.shards.length;
        const shardsStarted = performance.now();
        const shards: StepFigures[] = [];
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(SHARDS_AT_ONCE, k) }, async () => {
            while (next < k) {
              const shard = next;
              next += 1;
              shards[shard] = await step(['shard', String(model.id), run, String(shard)]);
            }
          }),
        );
        const shardsSeconds = (performance.now() - shardsStarted) / 1000;
        const complete = await step(['complete', String(model.id), run, '-']);
        const same = (await shaOfLatest()) === reference;
        const wall = plan.seconds + shardsSeconds + complete.seconds;
        const rss = shards.map((shard) => shard.peakRssMiB);
        const longest = Math.max(...shards.map((shard) => shard.seconds));
        console.log(
          `${key} K=${k}: wall ${wall.toFixed(2)} s (plan ${plan.seconds.toFixed(2)}, shards ${shardsSeconds.toFixed(2)} ${SHARDS_AT_ONCE} at a time, ` +
            `longest shard ${longest.toFixed(2)}, complete ${complete.seconds.toFixed(2)}); peak RSS per shard ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MiB ` +
            `(single ${single.peakRssMiB.toFixed(0)}); aggregate ${same ? 'identical to the single task' : 'DIFFERENT'}`,
        );
        if (!same) process.exitCode = 1;
        results.push({
          case: key,
          updates,
          values,
          k,
          minPartBytes,
          wallSeconds: wall,
          planSeconds: plan.seconds,
          shardsSeconds,
          shardsAtOnce: SHARDS_AT_ONCE,
          longestShardSeconds: longest,
          completeSeconds: complete.seconds,
          completePeakRssMiB: complete.peakRssMiB,
          shardPeakRssMiB: rss,
          shardSeconds: shards.map((shard) => shard.seconds),
          identical: same,
        });
      }
      await db.dropDatabase();
    }
  } finally {
    await client.close();
    await services.stop();
  }
  const file = writeResults('sharded-aggregation', `${database.description}; ${objectStore.description}; commit ${gitCommit()}`, results);
  console.log(`figures written to ${file}`);
}

(process.argv[2] === '--child' ? child() : parent()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
