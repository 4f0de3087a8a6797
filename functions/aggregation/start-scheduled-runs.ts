import type { ScheduledEvent } from 'aws-lambda';
import { z } from 'zod';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { executionName, startAggregationRun } from './start-run';

/** The schedule's event (EventBridge); only its time is used. */
export const input = z.looseObject({ time: z.string().optional() });

/**
 * Every minute (EventBridge schedule): starts a run for each model with `allow_aggregation`. The
 * execution name holds the minute, so a repeated delivery of the same event starts nothing new.
 */
export const handler = createHandler({ input }, async (event: Partial<ScheduledEvent>) => {
  const minute = (event.time ?? new Date().toISOString()).slice(0, 16).replace(/[^0-9]/g, '');
  const models = await getConnector().pullModelsAllowingAggregation();
  const runs = await Promise.all(models.map((model) => startAggregationRun(model, executionName(model, `schedule-${minute}`))));
  return { runs };
});
