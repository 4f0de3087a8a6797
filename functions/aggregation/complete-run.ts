import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { MetricName, recordMetric } from '../../lib/observability';

export const input = z.strictObject({ model: Id, run: Run, aggregate: Id });

/**
 * Records the aggregate on every update the run holds and completes them, in one write per
 * update (RUNNING → COMPLETE with `appliedAggregate`). Safe to retry: a second call finds
 * nothing RUNNING. Should it fail for good, FailRun settles the run the same way, because the
 * aggregate exists.
 */
export const handler = createHandler({ input }, async ({ model, run, aggregate }) => {
  const completed = await getConnector().completeRun(model, run, aggregate);
  recordMetric(MetricName.UpdatesPerRun, completed.completed);
  return completed;
});
