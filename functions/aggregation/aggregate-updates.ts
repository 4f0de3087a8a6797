import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { aggregateModelUpdates } from '../../lib/aggregation/aggregate-model-updates';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { MetricName, MetricUnit, recordMetric } from '../../lib/observability';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Combines the updates the run claimed with the model's aggregator and stores the aggregate under
 * `parent_agg`. Weights are read and written here; the state machine only sees the aggregate's id
 * and counts. Updates that can never be aggregated are set aside as INVALID (see the library).
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const started = performance.now();
  const { aggregate, modelUpdates, invalid, bytesRead } = await aggregateModelUpdates(getConnector(), {
    model,
    run,
    parentAgg: parent_agg,
    leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS,
  });
  recordMetric(MetricName.BytesAggregatedPerSecond, bytesRead / ((performance.now() - started) / 1_000), MetricUnit.BytesPerSecond);
  // Counts, never ids: the state stays small whatever the number of updates.
  return { id: aggregate.id, parent: aggregate.parent, level: aggregate.level, model_updates: modelUpdates, invalid };
});
