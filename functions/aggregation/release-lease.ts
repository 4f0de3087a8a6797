import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { MetricName, MetricUnit, recordMetric } from '../../lib/observability';

export const input = z.strictObject({
  model: Id,
  run: Run,
  /** How the run ended, named by the state machine's path: counted as RunsAggregated, RunsNothingToDo or RunsFailed. */
  outcome: z.enum(['aggregated', 'nothing_to_do', 'failed']).optional(),
  /** The execution's start (`$$.Execution.StartTime`), for RunDuration. */
  started_at: z.iso.datetime({ offset: true }).optional(),
});

const RUNS_ENDED = { aggregated: MetricName.RunsAggregated, nothing_to_do: MetricName.RunsNothingToDo, failed: MetricName.RunsFailed } as const;

/**
 * Releases the run's lease on the model (last state of every path that took it), and counts how
 * the run ended and how long it took.
 */
export const handler = createHandler({ input }, async ({ model, run, outcome, started_at }) => {
  const released = await getConnector().releaseAggregationLease(model, run);
  if (outcome !== undefined) recordMetric(RUNS_ENDED[outcome]);
  if (started_at !== undefined) recordMetric(MetricName.RunDuration, (Date.now() - Date.parse(started_at)) / 1_000, MetricUnit.Seconds);
  return released;
});
