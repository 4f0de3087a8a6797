import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { shardLimits, type ShardLimits } from '../../lib/aggregation/shard-plan';
import { planRunAggregation } from '../../lib/aggregation/sharded-aggregation';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { MetricName, recordMetric } from '../../lib/observability';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Plans the run's aggregation (issue #14): one task, or K shards of coordinates. A sharded plan is
 * written to the store as a manifest; the state gets its key and K only (and the shard list's
 * key, which the Distributed Map's ItemReader reads), so it stays small for any N and K.
 * `limits` is a parameter so that the local executor's tests can ask for a fixed K.
 */
export function createPlanHandler(limits: () => ShardLimits) {
  return createHandler({ input }, async ({ model, run, parent_agg }) => {
    const plan = await planRunAggregation(
      getConnector(),
      { model, run, parentAgg: parent_agg, leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS },
      limits(),
    );
    if (plan.mode === 'sharded') recordMetric(MetricName.ShardsPerRun, plan.shards);
    return {
      mode: plan.mode,
      shards: plan.shards,
      passes: plan.passes,
      bucket: plan.bucket,
      manifest: plan.manifest,
      shard_list: plan.shardList,
      model_updates: plan.modelUpdates,
      invalid: plan.invalid,
      reason: plan.reason,
    };
  });
}

export const handler = createPlanHandler(() => shardLimits());
