/**
 * What the triggers cost in Step Functions and Lambda terms (issue #19): executions started,
 * states entered (Standard workflows bill state transitions) and Lambda invocations, for an idle
 * model per minute, a round of 100 updates from 100 clients and a round of 1,000 updates, under
 * the old trigger policy ("before": every minute an execution per model with
 * `allow_aggregation`; every accepted update an execution of its own) and the new one ("after":
 * lib/aggregation/triggers.ts). Both run the same state machine with the local executor, which
 * counts what AWS would bill; the old policy's executions start as the old triggers started them,
 * all at once.
 *
 *   npx tsx bench/trigger-cost.ts
 */
import { randomUUID } from 'node:crypto';
import { executeAggregationLocally } from '../functions/aggregation/local-executor';
import { registerLocalExecutor, settleLocalRuns, startAggregationRun } from '../lib/aggregation/start-run';
import { startRunIfRoundReady, startScheduledRuns } from '../lib/aggregation/triggers';
import { MongoMetadataConnector } from '../lib/connector';
import { closeMongoClient, getDatabase } from '../lib/db/client';
import { writeResults } from './results-file';
import { resolveBenchServices } from './services';

interface Cost {
  scenario: string;
  policy: 'before' | 'after';
  executions: number;
  statesEntered: number;
  lambdaInvocations: number;
}

async function main(): Promise<void> {
  const services = await resolveBenchServices();
  const dbName = `bench_cost_${randomUUID().slice(0, 8)}`;
  Object.assign(process.env, { MONGODB_URI: services.database.uri, MONGODB_DB_NAME: dbName, AGGREGATION_EXECUTOR: 'local', ...services.storeEnv });
  registerLocalExecutor((input) => executeAggregationLocally(input));
  const db = await getDatabase();
  const connector = new MongoMetadataConnector(db);
  await connector.updateDatabase();
  const figures: Cost[] = [];
  try {
    const newModel = async (name: string, clients: number) => {
      const ids = await Promise.all(Array.from({ length: clients }, async () => (await connector.createClient()).id));
      return { model: await connector.createFederatedModel({ name, aggregator: 'avg_values_if_data', clients: ids, allowAggregation: true }), clients: ids };
    };

    /** The old policy's executions, started together, to the end; what they cost. */
    const before = async (scenario: string, model: number, count: number) => {
      const results = await Promise.all(Array.from({ length: count }, () => executeAggregationLocally({ model, run: `before-${randomUUID()}` })));
      figures.push({
        scenario,
        policy: 'before',
        executions: count,
        statesEntered: results.reduce((sum, r) => sum + r.statesEntered, 0),
        lambdaInvocations: results.reduce((sum, r) => sum + r.lambdaInvocations, 0),
      });
    };
    /** The new policy's executions, from the local executor's records. */
    const after = async (scenario: string, model: number, triggerInvocations: number) => {
      await settleLocalRuns();
      const runs = await db.collection('local_executions').find({ model }).toArray();
      figures.push({
        scenario,
        policy: 'after',
        executions: runs.length,
        statesEntered: runs.reduce((sum, r) => sum + (r.statesEntered ?? 0), 0),
        lambdaInvocations: runs.reduce((sum, r) => sum + (r.lambdaInvocations ?? 0), 0) + triggerInvocations,
      });
    };

    // An idle model, one minute: the old schedule started an execution that found nothing.
    const idle = await newModel('idle', 1);
    await before('idle model, per minute', idle.model.id, 1);
    figures.at(-1)!.lambdaInvocations += 1; // the schedule's own invocation
    await startScheduledRuns(connector, startAggregationRun, new Date());
    await after('idle model, per minute', idle.model.id, 1);

    for (const [updates, clients] of [[100, 100], [1_000, 100]] as const) {
      const scenario = `a round of ${updates} updates from ${clients} clients`;
      // Before: every update started its own execution (model-<id>-update-<update id>), at once.
      const old = await newModel(`before-${updates}`, clients);
      await connector.createModelUpdates(Array.from({ length: updates }, (_, i) => ({ federatedModel: old.model.id, client: old.clients[i % clients]!, data: [i, 1] })));
      await before(scenario, old.model.id, updates);
      // After: each update asks whether its round is ready; one execution per minute at most.
      const current = await newModel(`after-${updates}`, clients);
      const accepted = await connector.createModelUpdates(
        Array.from({ length: updates }, (_, i) => ({ federatedModel: current.model.id, client: current.clients[i % clients]!, data: [i, 1] })),
      );
      const minute = new Date();
      for (const update of accepted) await startRunIfRoundReady(connector, startAggregationRun, update, current.model, minute);
      await settleLocalRuns();
      // The schedule's next minute takes whatever arrived after the run claimed (nothing here).
      await startScheduledRuns(connector, startAggregationRun, new Date(minute.getTime() + 60_000));
      // The update triggers run inside the submission's own invocation: no extra Lambda call.
      await after(scenario, current.model.id, 1);
      const left = await db.collection('model_updates').countDocuments({ federatedModel: current.model.id, status: { $ne: 2 } });
      if (left !== 0) throw new Error(`${left} updates were not aggregated under the new policy`);
    }

    console.log('\n| scenario | policy | executions | states entered | Lambda invocations |');
    console.log('|---|---|---|---|---|');
    for (const f of figures) console.log(`| ${f.scenario} | ${f.policy} | ${f.executions} | ${f.statesEntered} | ${f.lambdaInvocations} |`);
    console.log(`\nwritten to ${writeResults('trigger-cost', services.database.description, figures)}`);
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await closeMongoClient();
    await services.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
