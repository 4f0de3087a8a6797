/**
 * Benchmark of issue #28: one secure round of N clients × P parameters, stage by stage, beside
 * the same round without secure aggregation, on the same machine, database and store.
 *
 *   npx tsx bench/secure-aggregation.ts                 # 100x100000 and 10x10000000
 *   npx tsx bench/secure-aggregation.ts 20x1000         # other sizes (N x P)
 *
 * The clients are the TypeScript SDK's SecureRoundParticipant (sdk/src/secure-aggregation.ts),
 * each stage run for every client in turn, with a transport that calls the connector in-process
 * (the API function's work without HTTP) and PUTs masked inputs to the store's presigned URLs. Per
 * stage it prints each client's mean compute time and bytes sent, the service's time (its
 * connector calls, stage closes included), and what the stage stored. Then the aggregation run
 * (the deployed state machine under the local executor, in a child process, as
 * bench/aggregation-run.ts) sums the round; the plain round uploads the same values as float32
 * binary updates and aggregates them the same way. Target: the secure run within 2× the plain
 * run's wall time. The secure aggregate is checked against the exact mean of the encodings.
 * Figures go to bench/results/secure-aggregation.json.
 */
import './quiet-observability';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoMetadataConnector } from '../lib/connector';
import { secureRoundJson } from '../lib/api/secure-round-representation';
import { SecureRoundParticipant, encodeFixedPoint, type SecureRoundTransport } from '../sdk/src/secure-aggregation';
import type { SecureRound } from '../sdk/src/types';
import { fixedPointScale } from '../lib/secure-aggregation/fixed-point';
import { aggregateInThisProcess, deleteStoredPrefixes, gitCommit, runInChild, type AggregationRunFigures } from './child-run';
import { resolveBenchServices } from './services';

const TARGET_RATIO = 2;
const CLIP = 1;
const BITS = 16;

/** What one stage cost: clients (mean per client) and the service (all its calls). */
interface StageCost {
  clientSeconds: number;
  clientBytesSent: number;
  serviceSeconds: number;
  bytesStored: number;
}

/**
 * The SDK's requests, answered by the connector in-process: the API routes' work, timed as the
 * service's. Bytes sent are the JSON bodies and the PUT bytes.
 */
function inProcessTransport(connector: MongoMetadataConnector, model: number, client: string, meter: { service: number; sent: number; put: number }): SecureRoundTransport {
  const serve = async <T>(work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      meter.service += (performance.now() - started) / 1000;
    }
  };
  const json = (round: Parameters<typeof secureRoundJson>[0]) => secureRoundJson(round, { kind: 'client', id: client }) as unknown as SecureRound;
  return {
    clientId: client,
    async request<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
      if (body !== undefined) meter.sent += JSON.stringify(body).length;
      const b = body as Record<string, any>;
      const [name, query] = route.split('?') as [string, string | undefined];
      const round = query === undefined ? null : Number(new URLSearchParams(query).get('round'));
      const answer = await serve(async (): Promise<unknown> => {
        if (method === 'GET' && name === '') return json((await connector.pullSecureRound(model, round))!.round);
        if (method === 'GET' && name === 'shares/') return { round, shares: await connector.pullSecureRoundInbox(model, client, round!) };
        if (name === 'keys/') {
          const length = (b.shapes as number[][]).flat().reduce((product, d) => product * d, 1);
          const shape = { layout: 'vector' as const, shapes: b.shapes as number[][], length };
          return json((await connector.advertiseSecureRoundKeys(model, client, { cPublicKey: b.c_public_key, sPublicKey: b.s_public_key, shape })).round);
        }
        if (name === 'shares/') return json((await connector.submitSecureRoundShares(model, client, b.round, b.shares)).round);
        if (name === 'masked_input/') {
          const upload = await connector.declareMaskedInput(model, client, b.round, b.sha256);
          return { upload: upload.upload, method: 'PUT', url: upload.url, headers: { 'content-type': 'application/octet-stream' }, byte_size: upload.byteSize };
        }
        if (name === 'masked_input/complete/') return json((await connector.completeMaskedInput(model, client, b.round, b.upload)).round);
        if (name === 'reveal/') return json((await connector.revealSecureRoundShares(model, client, b.round, b.shares)).round);
        throw new Error(`no route ${method} ${route}`);
      });
      return answer as T;
    },
    async putBytes(url: string, headers: Record<string, string>, bytes: Uint8Array): Promise<void> {
      meter.put += bytes.byteLength;
      const put = await fetch(url, { method: 'PUT', headers: { 'content-type': headers['content-type'] ?? 'application/octet-stream' }, body: bytes });
      if (!put.ok) throw new Error(`PUT answered ${put.status}`);
    },
  };
}

function valuesOf(length: number, seed: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(seed * 7_919 + i) * 1.2);
}

async function storedBytes(client: MongoClient, name: string, stages: readonly string[]): Promise<number> {
  const messages = client.db(name).collection('secure_round_messages');
  const found = await messages.find({ stage: { $in: [...stages] } }).toArray();
  return found.reduce((sum, document) => sum + JSON.stringify(document).length, 0);
}

async function parent(): Promise<void> {
  const sizes = process.argv.slice(2).filter((arg) => /^\d+x\d+$/.test(arg));
  const cases = (sizes.length > 0 ? sizes : ['100x100000', '10x10000000']).map((spec) => spec.split('x').map(Number) as [number, number]);
  const services = await resolveBenchServices();
  const { database, objectStore, store } = services;
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(1)}`;
  console.log(`secure aggregation: database ${database.description}; store ${objectStore.description}; ${machine}`);
  const mongo = await new MongoClient(database.uri).connect();
  const results: (Record<string, unknown> & { clients: number; parameters: number })[] = [];
  const runChild = (model: number, name: string) =>
    runInChild<AggregationRunFigures>(__filename, [String(model)], { MONGODB_URI: database.uri, MONGODB_DB_NAME: name, ...services.storeEnv, AGGREGATION_EXECUTOR: 'local' });
  try {
    for (const [n, parameters] of cases) {
      const threshold = Math.floor(n / 2) + 1;
      // --- the secure round
      const name = `bench_secure_${n}x${parameters}_${Date.now()}`;
      const connector = new MongoMetadataConnector(mongo.db(name), { store });
      await connector.updateDatabase();
      const members = await Promise.all(Array.from({ length: n }, () => connector.createClient()));
      const model = await connector.createFederatedModel({
        name,
        aggregator: 'avg_values_if_data',
        clients: members.map((member) => member.id),
        secureAggregation: { threshold, clip_range: CLIP, bits: BITS, stage_seconds: 3_600 },
      });
      const meters = members.map(() => ({ service: 0, sent: 0, put: 0 }));
      const participants = members.map((member, i) => new SecureRoundParticipant(inProcessTransport(connector, model.id, member.id, meters[i]!), { pollMs: 10 }));
      const stages: Record<string, StageCost> = {};
      const stage = async (label: string, messageStages: readonly string[], work: (participant: SecureRoundParticipant, i: number) => Promise<unknown>) => {
        const before = meters.map((m) => ({ ...m }));
        let clientSeconds = 0;
        for (const [i, participant] of participants.entries()) {
          const started = performance.now();
          const service = meters[i]!.service;
          await work(participant, i);
          clientSeconds += (performance.now() - started) / 1000 - (meters[i]!.service - service);
        }
        const serviceSeconds = meters.reduce((sum, m, i) => sum + m.service - before[i]!.service, 0);
        const sent = meters.reduce((sum, m, i) => sum + m.sent - before[i]!.sent + m.put - before[i]!.put, 0);
        const bytesStored = (await storedBytes(mongo, name, messageStages)) + (label === 'masked input' ? n * 4 * (parameters + 1) : 0);
        stages[label] = { clientSeconds: clientSeconds / n, clientBytesSent: sent / n, serviceSeconds, bytesStored };
        const cost = stages[label]!;
        console.log(
          `${String(n).padStart(4)} x ${parameters.toLocaleString('en-US').padStart(10)} ${label.padEnd(13)}: client ${(cost.clientSeconds * 1000).toFixed(1)} ms and ${(cost.clientBytesSent / 1024).toFixed(1)} KiB sent each; ` +
            `service ${cost.serviceSeconds.toFixed(2)} s in all; stored ${(cost.bytesStored / 2 ** 20).toFixed(2)} MiB`,
        );
      };
      const values = members.map((_, i) => valuesOf(parameters, i));
      await stage('keys', ['keys'], async (p) => {
        await p.advertise([[parameters]]);
      });
      await participants[0]!.waitWhile('advertising');
      await stage('sharing', ['shares', 'inbox'], async (p) => {
        await p.refresh();
        await p.share();
      });
      await stage('masked input', ['masked_input'], async (p, i) => {
        await p.refresh();
        await p.maskedInput(values[i]!);
      });
      await stage('unmasking', ['reveal'], async (p) => {
        await p.refresh();
        await p.reveal();
      });
      const secure = await runChild(model.id, name);
      if (secure.finalState !== 'Aggregated') throw new Error(`secure ${n}x${parameters}: the run ended ${secure.finalState}`);
      const aggregate = (await connector.pullModelAggregateWeights(secure.aggregate))!.values;
      const sums = new Int32Array(parameters);
      for (const v of values) encodeFixedPoint(v, { clipRange: CLIP, bits: BITS, weight: 1 }).forEach((word, i) => i < parameters && (sums[i] = (sums[i]! + word) | 0));
      const factor = CLIP / fixedPointScale(BITS) / n;
      const exact = aggregate.every((value, i) => value === sums[i]! * factor);
      // --- the same round in the clear: float32 binary updates
      const plainName = `bench_plain_${n}x${parameters}_${Date.now()}`;
      const plainConnector = new MongoMetadataConnector(mongo.db(plainName), { store });
      await plainConnector.updateDatabase();
      const plainMembers = await Promise.all(Array.from({ length: n }, () => plainConnector.createClient()));
      const plainModel = await plainConnector.createFederatedModel({ name: plainName, aggregator: 'avg_values_if_data', clients: plainMembers.map((member) => member.id) });
      let plainUploadSeconds = 0;
      for (const [i, member] of plainMembers.entries()) {
        const bytes = new Uint8Array(values[i]!.buffer);
        const started = performance.now();
        const upload = await plainConnector.createModelUpdateUpload({ federatedModel: plainModel.id, client: member.id, dtype: 'float32', shapes: [[parameters]], sha256: createHash('sha256').update(bytes).digest('hex') });
        const put = await fetch(upload.url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
        if (!put.ok) throw new Error(`PUT answered ${put.status}`);
        await plainConnector.completeModelUpdateUpload(upload.id, member.id);
        plainUploadSeconds += (performance.now() - started) / 1000;
      }
      const plain = await runChild(plainModel.id, plainName);
      if (plain.finalState !== 'Aggregated') throw new Error(`plain ${n}x${parameters}: the run ended ${plain.finalState}`);
      const ratio = secure.wallSeconds / plain.wallSeconds;
      const clientTotal = Object.values(stages).reduce((sum, cost) => sum + cost.clientSeconds, 0);
      console.log(
        `${String(n).padStart(4)} x ${parameters.toLocaleString('en-US').padStart(10)} aggregation  : secure run ${secure.wallSeconds.toFixed(2)} s (peak RSS ${secure.peakRssMiB.toFixed(0)} MiB), ` +
          `plain run ${plain.wallSeconds.toFixed(2)} s (${plain.peakRssMiB.toFixed(0)} MiB): ${ratio.toFixed(2)}x (${ratio <= TARGET_RATIO ? 'meets' : 'MISSES'} ${TARGET_RATIO}x); aggregate ${exact ? 'exact' : 'WRONG'}; ` +
          `client work ${(clientTotal * 1000).toFixed(0)} ms per client over the 4 stages vs ${((plainUploadSeconds / n) * 1000).toFixed(0)} ms for a plain upload (service's part included)`,
      );
      if (!exact) process.exitCode = 1;
      results.push({ clients: n, parameters, threshold, stages, secureRun: secure, plainRun: plain, ratio, target: TARGET_RATIO, exact, clientSecondsPerClient: clientTotal, plainUploadSecondsPerClient: plainUploadSeconds / n });
      await mongo.db(name).dropDatabase();
      await mongo.db(plainName).dropDatabase();
      await deleteStoredPrefixes(store, [`secure-inputs/${model.id}/`, `aggregates/${model.id}/`, `updates/${plainModel.id}/`, `aggregates/${plainModel.id}/`]);
    }
  } finally {
    await mongo.close();
    await services.stop();
  }
  // Each size keeps its latest figures: a run of one size leaves the other sizes' figures as they were.
  const file = path.join(__dirname, 'results', 'secure-aggregation.json');
  mkdirSync(path.dirname(file), { recursive: true });
  const measured = { measuredOn: new Date().toISOString(), machine, database: database.description, store: objectStore.description, commit: gitCommit() };
  const earlier = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { results?: { clients: number; parameters: number }[] }).results ?? [] : [];
  const kept = earlier.filter((old) => !results.some((r) => r.clients === old.clients && r.parameters === old.parameters));
  writeFileSync(file, `${JSON.stringify({ results: [...kept, ...results.map((r) => ({ ...measured, ...r }))] }, null, 2)}\n`);
  console.log(`figures written to ${path.relative(process.cwd(), file)}`);
}

(process.argv[2] === '--child' ? aggregateInThisProcess(Number(process.argv[3])) : parent()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
