/**
 * Does refusing a credential take as long as accepting one (issue #13: an unknown token must not be
 * told from a known one by the time it takes)? Both go the same way: the SHA-256 of what was sent,
 * then one indexed read of that hash, found or not, and a refusal is held back by how much longer
 * recent acceptances took (lib/security/refusal-timing.ts). This measures the two side by side,
 * interleaved so that drift affects both, for developer tokens and client credentials, and prints
 * the medians and their difference. A figure to read, not a test: timings on a shared machine vary.
 *
 *   npx tsx bench/credential-timing.ts [rounds]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { MongoMetadataConnector } from '../lib/connector';
import { writeResults } from './results-file';
import { resolveBenchServices } from './services';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2_000);
  const services = await resolveBenchServices();
  const client = await new MongoClient(services.database.uri).connect();
  const db = client.db(`bench_timing_${randomUUID().slice(0, 8)}`);
  try {
    const connector = new MongoMetadataConnector(db, { store: services.store });
    await connector.updateDatabase();
    // Enough of each that the index, not a scan of a few documents, answers.
    const developers = await Promise.all(Array.from({ length: 200 }, (_, i) => connector.createDeveloper(`d${i}`)));
    const clients = await Promise.all(Array.from({ length: 200 }, () => connector.createClient()));
    const timings = { knownToken: [] as number[], unknownToken: [] as number[], knownClient: [] as number[], unknownClient: [] as number[] };
    const time = async (list: number[], call: () => Promise<unknown>) => {
      const started = process.hrtime.bigint();
      await call();
      list.push(Number(process.hrtime.bigint() - started) / 1e6);
    };
    for (let i = 0; i < rounds; i += 1) {
      const known = developers[i % developers.length]!.token;
      const unknown = randomBytes(20).toString('hex');
      const credential = clients[i % clients.length]!.credential;
      // Alternate which goes first, so that neither always runs on a warmer connection.
      const pairs: [number[], () => Promise<unknown>][] = [
        [timings.knownToken, () => connector.findDeveloperByToken(known)],
        [timings.unknownToken, () => connector.findDeveloperByToken(unknown)],
        [timings.knownClient, () => connector.findClientByCredential(credential)],
        [timings.unknownClient, () => connector.findClientByCredential(randomUUID())],
      ];
      for (const [list, call] of i % 2 === 0 ? pairs : [...pairs].reverse()) await time(list, call);
    }
    const figures = Object.entries(timings).map(([kind, values]) => ({ kind, medianMs: Number(median(values).toFixed(3)), rounds }));
    const difference = (a: string, b: string) =>
      Number((figures.find((f) => f.kind === a)!.medianMs - figures.find((f) => f.kind === b)!.medianMs).toFixed(3));
    console.log('\n| lookup | median (ms) |');
    console.log('|---|---|');
    for (const f of figures) console.log(`| ${f.kind} | ${f.medianMs} |`);
    console.log(`\nunknown − known token: ${difference('unknownToken', 'knownToken')} ms; unknown − known client: ${difference('unknownClient', 'knownClient')} ms`);
    console.log(`written to ${writeResults('credential-timing', services.database.description, figures)}`);
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    await services.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
