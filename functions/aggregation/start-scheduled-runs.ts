import type { ScheduledEvent } from 'aws-lambda';
import { z } from 'zod';
import { startScheduledRuns } from '../../lib/aggregation/triggers';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { logger, MetricName, MetricUnit, recordMetric } from '../../lib/observability';
import { startAggregationRun, startSecureRoundRun } from '../../lib/aggregation/start-run';

/** The schedule's event (EventBridge); only its time is used. */
export const input = z.looseObject({ time: z.string().optional() });

/**
 * Every minute (EventBridge schedule): starts a run for each model with `allow_aggregation` whose
 * round can be aggregated now (lib/aggregation/triggers.ts), and none for idle models. The
 * execution name holds the minute, so a repeated delivery of the same event starts nothing new.
 * Publishes how long the oldest claimable update of those models has waited
 * (`OldestPendingUpdateAge`, 0 when none waits; the alarm on rounds that do not happen), and logs
 * which one it is. Secure rounds (issue #28) whose stage is due are closed, and a run is started
 * for each round ready to sum.
 */
export const handler = createHandler({ input }, async (event: Partial<ScheduledEvent>) => {
  const connector = getConnector();
  const time = event.time ?? new Date();
  const started = await startScheduledRuns(connector, startAggregationRun, time);
  const oldest = await connector.oldestClaimableUpdate([...started.runs.map((run) => run.model), ...started.waiting.map((model) => model.model)]);
  const age = oldest === null ? 0 : Math.max(0, (new Date(time).getTime() - oldest.createdOn.getTime()) / 1_000);
  recordMetric(MetricName.OldestPendingUpdateAge, age, MetricUnit.Seconds);
  if (oldest !== null) logger.info('oldest pending update', { model: oldest.model, update: oldest.update, waitingSeconds: Math.round(age) });
  const readyToSum = await connector.advanceDueSecureRounds(new Date(time));
  for (const round of readyToSum) await startSecureRoundRun(round, 'schedule', new Date(time));
  return { ...started, secureRounds: readyToSum.map((round) => round.id) };
});
