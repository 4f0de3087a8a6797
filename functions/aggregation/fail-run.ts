import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { ReasonSchema } from '../../lib/entities';
import { createHandler } from '../../lib/http/handler';
import { MetricName, recordMetric } from '../../lib/observability';

export const input = z.strictObject({ model: Id, run: Run, reason: ReasonSchema.optional() });

/**
 * After a failure past the claim, settles the run from the database (no id list needed): if it
 * wrote its aggregate, the aggregate stands and its updates complete (never counted twice);
 * otherwise its updates go back to the pool with one more failed attempt, and those at
 * AGGREGATION_MAX_ATTEMPTS become INVALID with the reason.
 */
export const handler = createHandler({ input }, async ({ model, run, reason }) => {
  const settled = await getConnector().settleRun(model, run, reason ?? 'the aggregation run failed', getConfig().AGGREGATION_MAX_ATTEMPTS);
  recordMetric(MetricName.UpdatesRetried, settled.failed);
  recordMetric(MetricName.UpdatesInvalidated, settled.invalid);
  return settled;
});
