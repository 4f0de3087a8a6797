import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { sumSecureRound } from '../../lib/aggregation/sum-secure-round';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { MetricName, MetricUnit, recordMetric } from '../../lib/observability';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * The aggregation of a secure round (issue #28): sums the masked inputs of the model's round that
 * is ready, removes the masks and stores the mean under `parent_agg` (see the library). Answers
 * `summed: false` when no round is ready.
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const started = performance.now();
  const result = await sumSecureRound(getConnector(), { model, run, parentAgg: parent_agg, leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS });
  if (!result.summed) return { summed: false };
  recordMetric(MetricName.BytesAggregatedPerSecond, result.bytesRead / ((performance.now() - started) / 1_000), MetricUnit.BytesPerSecond);
  const { aggregate } = result;
  return { summed: true, id: aggregate.id, parent: aggregate.parent, level: aggregate.level, model_updates: result.maskers, dropped: result.dropped };
});
