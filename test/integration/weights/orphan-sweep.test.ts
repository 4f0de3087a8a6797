import { handler as sweep } from '../../../functions/maintenance/sweep-orphaned-weights';
import type { Context } from 'aws-lambda';
import { getObjectStore } from '../../../lib/store';
import { useHandlerDatabase } from '../../helpers/database';
import { useTestObjectStore } from '../../helpers/object-store';

/** Bytes a crash left between the store and the database go, once old enough; referred ones stay. */
describe('the daily sweep of orphaned weights', () => {
  const database = useHandlerDatabase();
  // A bucket of this file's own: the sweep deletes what this file's database does not refer to,
  // which in the shared bucket would be every other test file's weights.
  const objects = useTestObjectStore();
  beforeAll(() => {
    process.env.S3_BUCKET = objects.bucket;
  });

  it('deletes objects no document refers to, keeps every referred one, and leaves young objects alone', async () => {
    const connector = database.connector;
    const client = (await connector.createClient()).id;
    const model = await connector.createFederatedModel({ name: 'sweep', aggregator: 'avg_values_if_data', clients: [client] });
    const update = await connector.createModelUpdate({ federatedModel: model.id, client, data: [1, 2] });
    const aggregate = await connector.postNewModelAggregateWeights(model, null, { layout: 'vector', shapes: [[2]], values: new Float64Array([1, 2]) });
    const artifact = await connector.publishModelAggregate(aggregate, '1.0.0');
    const store = getObjectStore();
    expect(store).toBeDefined();
    // The handlers' store is this file's bucket, and nothing else is in it.
    expect((await objects.store.list('')).objects.map((o) => o.key).sort()).toEqual(
      [update.weights.key, aggregate.weights.key].sort(),
    );
    // Left behind by writes that died before their documents were inserted.
    const orphans = [`updates/${model.id}/orphan-a`, `aggregates/${model.id}/orphan-b`, `optimizer-state/${model.id}/orphan-c`, `secure-inputs/${model.id}/1/orphan-d`];
    for (const key of orphans) await store.put(key, new Uint8Array(16));
    // A secure round's masked input, referred to by its message (issue #28).
    const maskedInput = `secure-inputs/${model.id}/1/client-input`;
    await store.put(maskedInput, new Uint8Array(16));
    await database.db.collection('secure_round_messages').insertOne({
      _id: `${model.id}:1|masked_input|client` as never,
      round: `${model.id}:1`,
      stage: 'masked_input',
      client,
      createdOn: new Date(),
      input: { key: maskedInput, byteSize: 16, sha256: '0'.repeat(64) },
    });
    const referred = [update.weights.key, aggregate.weights.key, artifact.weights.key, maskedInput];

    // A sweep at the time of writing leaves everything: nothing is a day old yet.
    const young = (await sweep({ time: new Date().toISOString() }, {} as Context)) as { listed: number; deleted: number };
    expect(young.deleted).toBe(0);
    for (const key of [...orphans, ...referred]) expect(await store.head(key)).not.toBeNull();

    // A day and a minute later: the orphans go, every referred object stays.
    const later = new Date(Date.now() + 24 * 60 * 60 * 1_000 + 60_000).toISOString();
    const swept = (await sweep({ time: later }, {} as Context)) as { listed: number; deleted: number };
    expect(swept.deleted).toBe(orphans.length);
    for (const key of orphans) expect(await store.head(key)).toBeNull();
    for (const key of referred) expect(await store.head(key)).not.toBeNull();
    expect(await connector.pullModelAggregateResults(aggregate)).toEqual([1, 2]);
  });

  it('forgets Idempotency-Keys a day old (the TTL index\'s work, done here where the database has none) and keeps younger ones', async () => {
    const connector = database.connector;
    const client = (await connector.createClient()).id;
    const model = await connector.createFederatedModel({ name: 'keys', aggregator: 'avg_values_if_data', clients: [client] });
    const first = await connector.createModelUpdateIdempotently({ federatedModel: model.id, client, data: [1] }, 'key-1', 'hash-1');
    const keys = database.db.collection('idempotency_keys');
    expect(await keys.countDocuments({})).toBe(1);
    // Within a day, the key still answers the first update.
    expect((await sweep({ time: new Date(Date.now() + 60_000).toISOString() }, {} as Context)) as object).toMatchObject({ expiredIdempotencyKeys: 0 });
    expect(await connector.createModelUpdateIdempotently({ federatedModel: model.id, client, data: [1] }, 'key-1', 'hash-1')).toMatchObject({
      update: { id: first.update.id },
      replayed: true,
    });
    // A day and a minute later it is gone; the indexed field the sweep reads is there either way.
    const later = new Date(Date.now() + 24 * 60 * 60 * 1_000 + 60_000).toISOString();
    expect((await sweep({ time: later }, {} as Context)) as object).toMatchObject({ expiredIdempotencyKeys: 1 });
    expect(await keys.countDocuments({})).toBe(0);
    expect((await keys.listIndexes().toArray()).map((index) => index.name)).toContain('createdOn');
  });

  it('counts registrations per source in windows that end, and forgets the ended ones', async () => {
    const connector = database.connector;
    const limit = { max: 2, windowSeconds: 60 };
    const at = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 5_000); // 5 s into a minute
    await connector.countRequestFromSource('register clients', '198.51.100.7', limit, at);
    await connector.countRequestFromSource('register clients', '198.51.100.7', limit, at);
    // Another address has its own count; the third request from the first is refused until the minute ends.
    await connector.countRequestFromSource('register clients', '198.51.100.8', limit, at);
    const refusal = await connector.countRequestFromSource('register clients', '198.51.100.7', limit, at).catch((error: Error) => error);
    expect(refusal).toMatchObject({ name: 'TooManyRequestsError', retryAfterSeconds: 55 });
    // Concurrent requests are each counted: of five at once in the next window, two get through.
    const next = new Date(at.getTime() + 60_000);
    const raced = await Promise.allSettled(Array.from({ length: 5 }, () => connector.countRequestFromSource('register clients', '198.51.100.7', limit, next)));
    expect(raced.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2);
    // No limit at all with max 0.
    await connector.countRequestFromSource('register clients', '198.51.100.7', { max: 0, windowSeconds: 60 }, at);

    const windows = database.db.collection('rate_limits');
    expect(await windows.countDocuments({})).toBe(3);
    expect((await sweep({ time: new Date(at.getTime() + 55_000).toISOString() }, {} as Context)) as object).toMatchObject({ endedRateLimitWindows: 2 });
    expect(await windows.countDocuments({})).toBe(1);
    expect((await windows.listIndexes().toArray()).map((index) => index.name)).toContain('expiresAt');
  });
});
