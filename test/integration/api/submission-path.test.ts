import type { CommandStartedEvent, MongoClient } from 'mongodb';
import { handler as router } from '../../../functions/api/router';
import { MongoMetadataConnector } from '../../../lib/connector';
import { getMongoClient } from '../../../lib/db/client';
import { IdBlocks } from '../../../lib/db/counters';
import { useHandlerDatabase } from '../../helpers/database';
import { handlerApi } from '../../helpers/http-api';

/** A shorter bound than the default 5 s, so that waiting it out keeps the test short. */
const BOUND_MS = 1_000;
process.env.MEMBERSHIP_CACHE_MS = String(BOUND_MS);

/**
 * The path every client takes each round (issue #25), through the API's router in-process on the
 * test database, with the container's own MongoClient watched: what each request sends to the
 * database, counted. The service's connector keeps models and memberships for MEMBERSHIP_CACHE_MS
 * (BOUND_MS here); the test's connector plays another container.
 */
describe('the submission path: one read and one write', () => {
  const database = useHandlerDatabase();
  const api = handlerApi(() => router);
  let token: string;
  let watched: MongoClient | undefined;
  const sent: string[] = [];
  const record = (event: CommandStartedEvent) => {
    if (!['hello', 'isMaster', 'ismaster', 'ping', 'endSessions', 'saslStart', 'saslContinue'].includes(event.commandName)) {
      sent.push(`${event.commandName} ${String(event.command[event.commandName])}`);
    }
  };

  beforeAll(async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    token = (await database.connector.createDeveloper('dev')).token;
    // The container's client, reconnected with command monitoring (connections take it when made).
    const client = await getMongoClient();
    await client.close();
    // The driver's setter for the `monitorCommands` option is not in its type declarations.
    (client as unknown as { monitorCommands: boolean }).monitorCommands = true;
    await client.connect();
    client.on('commandStarted', record);
    watched = client;
  });
  afterAll(() => {
    watched?.off('commandStarted', record);
  });

  /** What the service sent to the database while `work` ran. */
  async function commandsOf(work: () => Promise<unknown>): Promise<string[]> {
    sent.length = 0;
    await work();
    return [...sent];
  }

  async function modelWithClient(body: Record<string, unknown> = {}) {
    const model = await api('POST', '/api/v1/models/', { token, body: { name: 'm', aggregator: 'avg_values_if_data', ...body } });
    expect(model.status).toBe(201);
    const joined = await api('POST', `/api/v1/models/${model.body.id}/register_client/`);
    expect(joined.status).toBe(201);
    return { model: model.body.id as number, credential: joined.body.uuid as string };
  }

  it('answers a warm submission with the credential read and the insert, and a score with the credential read and its insert', async () => {
    const { model, credential } = await modelWithClient();
    const first = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [1, 2] } });
    expect(first.status).toBe(201);
    for (let i = 0; i < 5; i += 1) {
      const commands = await commandsOf(async () => {
        const reply = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [i, 2] } });
        expect(reply.status).toBe(201);
      });
      // The id came from the container's block of ids, except when a block ran out.
      expect(commands.filter((command) => !command.startsWith('findAndModify counters'))).toEqual(['find clients', 'insert model_updates']);
    }
    // A base aggregate is looked up once per container (an aggregate's model never changes).
    const aggregate = await database.connector.postNewModelAggregate(model, null, [1, 2]);
    expect((await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [3, 4], base_aggregate: aggregate.id } })).status).toBe(201);
    const withBase = await commandsOf(async () => {
      const reply = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [3, 4], base_aggregate: aggregate.id } });
      expect(reply.status).toBe(201);
    });
    expect(withBase.filter((command) => !command.startsWith('findAndModify counters'))).toEqual(['find clients', 'insert model_updates']);
    const score = await commandsOf(async () => {
      const reply = await api('POST', '/api/v1/client_aggregate_scores/', { client: credential, body: { aggregate: aggregate.id, validation_results: { accuracy: 0.9 } } });
      expect(reply.status).toBe(201);
    });
    expect(score.filter((command) => !command.startsWith('findAndModify counters'))).toEqual(['find clients', 'insert client_aggregate_scores']);
    // Past the bound the model is read again, and the members it had stay known (its members stamp is unchanged).
    await new Promise((resolve) => setTimeout(resolve, BOUND_MS + 100));
    const later = await commandsOf(async () => {
      const reply = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [5, 6] } });
      expect(reply.status).toBe(201);
    });
    expect(later.filter((command) => !command.startsWith('findAndModify counters'))).toEqual(['find clients', 'find federated_models', 'insert model_updates']);
    // A member registering again is told so without a write (its membership read afresh).
    const again = await commandsOf(async () => expect((await api('POST', `/api/v1/models/${model}/register_client/`, { client: credential })).status).toBe(200));
    expect(again).toEqual(['find clients', 'find model_clients']);
  });

  it('keeps the FMA clients\' precedence: unknown model 400 "Invalid pk", then 403 for a non-member, then the schema\'s 400', async () => {
    const { model, credential } = await modelWithClient({ update_schema: { type: 'array', items: { type: 'number' }, maxItems: 2 } });
    const { credential: outsider } = await modelWithClient();
    const unknown = await api('POST', '/api/v1/model_updates/', { client: outsider, body: { federated_model: 999_999, data: ['not', 'numbers', 'at all'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.federated_model[0]).toMatch(/Invalid pk "999999"/);
    const foreign = await api('POST', '/api/v1/model_updates/', { client: outsider, body: { federated_model: model, data: ['not', 'numbers', 'at all'] } });
    expect(foreign.status).toBe(403);
    const badData = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [1, 2, 3] } });
    expect(badData.status).toBe(400);
    expect(badData.body.data[0]).toMatch(/schema/);
    const badBase = await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [1, 2], base_aggregate: 999_999 } });
    expect(badBase.status).toBe(400);
    expect(badBase.body.base_aggregate[0]).toMatch(/Invalid pk "999999"/);
  });

  it('refuses a client removed by another container once the bound has passed, and admits one added elsewhere at once', async () => {
    const { model, credential } = await modelWithClient();
    const elsewhere = new MongoMetadataConnector(database.db);
    expect((await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [1] } })).status).toBe(201);
    // A non-member is never remembered as one: joining through another container counts at once.
    const newcomer = await database.connector.createClient();
    expect((await api('POST', '/api/v1/model_updates/', { client: newcomer.credential, body: { federated_model: model, data: [2] } })).status).toBe(403);
    await elsewhere.addClientsToModel(model, [newcomer.id]);
    expect((await api('POST', '/api/v1/model_updates/', { client: newcomer.credential, body: { federated_model: model, data: [2] } })).status).toBe(201);
    // Removed elsewhere: this container may still accept within MEMBERSHIP_CACHE_MS, never after.
    await elsewhere.setModelClients(model, [newcomer.id]);
    const removedAt = Date.now();
    let status = 201;
    while (status === 201) {
      const sentAt = Date.now();
      status = (await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: model, data: [3] } })).status;
      if (status === 201) expect(sentAt - removedAt).toBeLessThan(BOUND_MS);
      else expect(status).toBe(403);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // What the removed client slipped in meanwhile is stored but never pending (README: membership).
    expect((await elsewhere.pullModelUpdatesPendingAggregation(model)).map((update) => update.client)).toEqual([newcomer.id]);
    // Removed elsewhere, the client cannot rejoin a model with a join secret on what this container remembers.
    const guarded = await api('POST', '/api/v1/models/', { token, body: { name: 'g', aggregator: 'avg_values_if_data', join_secret: 'open sesame' } });
    const member = await api('POST', `/api/v1/models/${guarded.body.id}/register_client/`, { client: credential, body: { join_secret: 'open sesame' } });
    expect(member.status).toBe(200);
    expect((await api('POST', '/api/v1/model_updates/', { client: credential, body: { federated_model: guarded.body.id, data: [5] } })).status).toBe(201);
    await elsewhere.setModelClients(guarded.body.id, []);
    expect((await api('POST', `/api/v1/models/${guarded.body.id}/register_client/`, { client: credential })).status).toBe(403);
    // Removed through this container: refused at once.
    expect((await api('PATCH', `/api/v1/models/${model}/`, { token, body: { clients: [] } })).status).toBe(200);
    expect((await api('POST', '/api/v1/model_updates/', { client: newcomer.credential, body: { federated_model: model, data: [4] } })).status).toBe(403);
  }, 30_000);

  it('hands out ids from blocks: unique across containers, increasing within one, one $inc per block', async () => {
    const counters = database.db.collection('counters') as never;
    const containers = [new IdBlocks('bench-ids'), new IdBlocks('bench-ids'), new IdBlocks('bench-ids')];
    const taken = await Promise.all(
      containers.map(async (blocks) => {
        const ids: number[] = [];
        await Promise.all(Array.from({ length: 200 }, async () => ids.push(await blocks.take(counters))));
        return ids;
      }),
    );
    const all = taken.flat();
    expect(new Set(all).size).toBe(600);
    for (const ids of taken) expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    // Blocks of 1, 2, 4, ..., 64, then 64: 9 blocks hold 200 ids, so the counter moved by at most 3 x (127 + 128).
    const counter = await database.db.collection('counters').findOne({ _id: 'bench-ids' as never });
    expect(counter!.seq).toBeLessThanOrEqual(3 * 255);
    expect(counter!.seq).toBeGreaterThanOrEqual(600);
  });
});
