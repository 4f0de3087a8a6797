import type { Context } from 'aws-lambda';
import { MongoMetadataConnector } from '../../../lib/connector';
import { UpdateStatus } from '../../../lib/entities';
import { startRunIfRoundReady } from '../../../lib/aggregation/triggers';
import { executionName, settleLocalRuns, startAggregationRun } from '../../../lib/aggregation/start-run';
import { useHandlerDatabase } from '../../helpers/database';

/** Triggers start executions only where there is a round to aggregate (issue #19), and lose nothing. */
describe('aggregation triggers', () => {
  const database = useHandlerDatabase();
  let connector: MongoMetadataConnector;

  beforeAll(() => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    connector = database.connector;
  });

  const schedule = async (time: string) => {
    const { handler } = await import('../../../functions/aggregation/start-scheduled-runs');
    return (await handler({ time, source: 'aws.events' }, {} as Context)) as {
      runs: { model: number; run: string; started: boolean }[];
      waiting: { model: number; reason: string }[];
    };
  };

  async function newModel(options: Partial<Parameters<MongoMetadataConnector['createFederatedModel']>[0]>, clients = 1) {
    const ids = await Promise.all(Array.from({ length: clients }, async () => (await connector.createClient()).id));
    const model = await connector.createFederatedModel({ name: 'm', aggregator: 'avg_values_if_data', clients: ids, allowAggregation: true, ...options });
    return { model, clients: ids };
  }

  it('names executions so that the same trigger always gives the same name', () => {
    expect(executionName(12, 'schedule-202611270401')).toBe('model-12-schedule-202611270401');
    expect(executionName(12, 'update 7/x')).toBe('model-12-update-7-x');
    expect(executionName(1, 'x'.repeat(200))).toHaveLength(80);
  });

  it('the schedule starts no execution for an idle model, none for a round that waits, and one for a round that is ready', async () => {
    await database.db.collection('local_executions').deleteMany({});
    const idle = await newModel({ name: 'idle' });
    const waits = await newModel({ name: 'waits', requirement: 'require_x_updates', requirementArgs: [3] });
    const ready = await newModel({ name: 'ready' });
    const off = await newModel({ name: 'off', allowAggregation: false });
    await connector.createModelUpdate({ federatedModel: waits.model.id, client: waits.clients[0]!, data: [1] });
    await connector.createModelUpdate({ federatedModel: ready.model.id, client: ready.clients[0]!, data: [2, 4] });
    await connector.createModelUpdate({ federatedModel: off.model.id, client: off.clients[0]!, data: [2, 4] });

    const result = await schedule('2026-11-27T04:01:00Z');
    expect(result.runs).toEqual([{ model: ready.model.id, run: `model-${ready.model.id}-schedule-202611270401`, started: true }]);
    expect(result.waiting).toEqual([{ model: waits.model.id, reason: '1 updates, 3 required' }]);
    await settleLocalRuns();
    // 15 states and 9 Lambdas: PlanAggregation and its Choice precede the single task (issue #14), the
    // Choice between a secure round's sum and the updates' follows PullLatestAggregate (issue #28).
    expect(await connector.pullExecution(result.runs[0]!.run)).toMatchObject({ status: 'SUCCEEDED', finalState: 'Aggregated', statesEntered: 15, lambdaInvocations: 9 });
    // Only that one execution exists; the idle model, the waiting round and the model that does
    // not aggregate cost nothing but the schedule's own invocation.
    expect(await database.db.collection('local_executions').countDocuments()).toBe(1);
    expect(await connector.pullLatestModelAggregate(idle.model)).toBeNull();
    expect(await connector.pullLatestModelAggregate(off.model)).toBeNull();
    // Nothing is left to do: the next minute starts nothing at all.
    expect((await schedule('2026-11-27T04:02:00Z')).runs).toEqual([]);
  });

  it('starts nothing for a second execution of one name (a repeated delivery)', async () => {
    const { model, clients } = await newModel({ name: 'dup' });
    await connector.createModelUpdate({ federatedModel: model.id, client: clients[0]!, data: [1] });
    const [first, second] = await Promise.all([startAggregationRun(model.id, 'model-dup-1'), startAggregationRun(model.id, 'model-dup-1')]);
    expect([first.started, second.started].sort()).toEqual([false, true]);
    await settleLocalRuns();
  });

  it('a round of 200 updates sent over 100 s, each triggering (twice: duplicated), starts one execution a minute at most, and all are aggregated once', async () => {
    await database.db.collection('local_executions').deleteMany({});
    const { model, clients } = await newModel({ name: 'round' }, 20);
    const start = Date.parse('2026-11-30T05:00:30Z');
    const started: string[] = [];
    const accepted: number[] = [];
    for (let batch = 0; batch < 10; batch += 1) {
      const updates = await connector.createModelUpdates(
        Array.from({ length: 20 }, (_, i) => ({ federatedModel: model.id, client: clients[i]!, data: [batch * 20 + i] })),
      );
      for (const [i, update] of updates.entries()) {
        accepted.push(update.id);
        const now = new Date(start + (batch * 20 + i) * 500);
        for (const _ of [1, 2]) {
          const run = await startRunIfRoundReady(connector, startAggregationRun, update, undefined, now);
          if (run?.started) started.push(run.run);
        }
      }
    }
    // 100 s from 05:00:30: the minutes 05:00, 05:01 and 05:02, one execution each at most.
    expect(started.length).toBeGreaterThan(0);
    expect(started.length).toBeLessThanOrEqual(3);
    expect(new Set(started).size).toBe(started.length);
    await settleLocalRuns();
    // Whatever arrived after a minute's run had claimed is the schedule's (the safety net).
    for (const minute of ['05', '06', '07']) {
      await schedule(`2026-11-30T05:${minute}:00Z`);
      await settleLocalRuns();
    }
    const done = await connector.pullModelUpdates(accepted);
    expect(done.filter((u) => u.status !== UpdateStatus.COMPLETE)).toEqual([]);
    const aggregates = await database.db.collection('model_aggregates').find({ federatedModel: model.id }).toArray();
    expect(done.every((u) => aggregates.some((a) => a._id === (u.appliedAggregate as never)))).toBe(true);
    expect(await database.db.collection('local_executions').countDocuments()).toBeLessThanOrEqual(6);
  }, 300_000);

  it('aggregates every update when its triggers are lost: the schedule picks the round up', async () => {
    const { model, clients } = await newModel({ name: 'lost', requirement: 'require_x_updates', requirementArgs: [30] }, 3);
    const updates = await connector.createModelUpdates(
      Array.from({ length: 30 }, (_, i) => ({ federatedModel: model.id, client: clients[i % 3]!, data: [i] })),
    );
    // No trigger ran (lost); the schedule's next minute finds the round ready.
    const result = await schedule('2026-11-30T06:00:00Z');
    expect(result.runs.filter((run) => run.model === model.id)).toHaveLength(1);
    await settleLocalRuns();
    const done = await connector.pullModelUpdates(updates.map((u) => u.id));
    expect(done.map((u) => u.status)).toEqual(updates.map(() => UpdateStatus.COMPLETE));
    expect(await connector.pullModelAggregateResults((await connector.pullLatestModelAggregate(model))!)).toEqual([14.5]);
  });

  it('starts a run at the update that makes a held-back round ready, and none before', async () => {
    const { model, clients } = await newModel({ name: 'held', requirement: 'require_x_updates', requirementArgs: [5] }, 5);
    const now = new Date('2026-11-30T07:00:00Z');
    const runs = [];
    for (let i = 0; i < 5; i += 1) {
      const update = await connector.createModelUpdate({ federatedModel: model.id, client: clients[i]!, data: [i] });
      runs.push(await startRunIfRoundReady(connector, startAggregationRun, update, undefined, now));
    }
    expect(runs.slice(0, 4)).toEqual([null, null, null, null]);
    expect(runs[4]).toMatchObject({ started: true, run: `model-${model.id}-update-202611300700` });
    await settleLocalRuns();
    expect(await connector.pullModelAggregateResults((await connector.pullLatestModelAggregate(model))!)).toEqual([2]);
  });
});
