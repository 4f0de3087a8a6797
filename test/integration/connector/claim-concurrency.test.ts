import { MongoMetadataConnector } from '../../../lib/connector';
import { UpdateStatus } from '../../../lib/entities';
import { useTestDatabase } from '../../helpers/database';

const UPDATES = 1_000;
const CLAIMERS = 8;

/** A deterministic shuffle, so each claimer asks for the updates in its own order and batches. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let i = copy.length - 1; i > 0; i -= 1) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

describe('claiming updates for aggregation under concurrency', () => {
  const database = useTestDatabase();

  it(`claims each of ${UPDATES} pending updates exactly once when ${CLAIMERS} runs race`, async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    const client = (await connector.createClient()).id;
    const model = await connector.createFederatedModel({ name: 'race', aggregator: 'avg_values_if_data', clients: [client] });
    const created = await connector.createModelUpdates(
      Array.from({ length: UPDATES }, (_, i) => ({ federatedModel: model.id, client, data: [i] })),
    );
    const ids = created.map((update) => update.id);

    // Each claimer walks all updates in its own order, in batches of 100, concurrently with the
    // others, through its own connector (as separate Lambda containers would).
    const claims = await Promise.all(
      Array.from({ length: CLAIMERS }, async (_, claimer) => {
        const own = new MongoMetadataConnector(database.db);
        const order = shuffled(ids, claimer + 1);
        const batches = Array.from({ length: order.length / 100 }, (_, b) => order.slice(b * 100, (b + 1) * 100));
        const results = await Promise.all(
          batches.map((batch) => own.registerModelUpdatesForAggregation(batch, { run: `claimer-${claimer}` })),
        );
        return results.flatMap((result) => result.claimed);
      }),
    );

    const all = claims.flat();
    expect(new Set(all).size).toBe(all.length); // disjoint: nobody claimed what another did
    expect([...all].sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b)); // complete
    // And the database agrees with what each claimer was told.
    for (const [claimer, claimed] of claims.entries()) {
      const held = await connector.pullModelUpdatesRegisteredForAggregation(model, { run: `claimer-${claimer}` });
      expect(held.map((update) => update.id).sort((a, b) => a - b)).toEqual([...claimed].sort((a, b) => a - b));
    }
    const running = await database.db.collection('model_updates').countDocuments({ status: UpdateStatus.RUNNING });
    expect(running).toBe(UPDATES);
    // FerretDB v1 on SQLite writes each updated document separately (about 20 ms each here), so
    // this correctness test needs minutes there; on MongoDB it takes about a second.
  }, 300_000);

  it('allocates distinct ids when many writers create updates at once', async () => {
    const connector = new MongoMetadataConnector(database.db);
    const client = (await connector.createClient()).id;
    const model = await connector.createFederatedModel({ name: 'ids', aggregator: 'avg_values_if_data', clients: [client] });
    const created = await Promise.all(
      Array.from({ length: 40 }, () => connector.createModelUpdate({ federatedModel: model.id, client, data: [1] })),
    );
    const ids = created.map((update) => update.id);
    expect(new Set(ids).size).toBe(40);
  });
});
