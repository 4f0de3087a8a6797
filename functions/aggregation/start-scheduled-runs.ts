import type { ScheduledEvent } from 'aws-lambda';
import { z } from 'zod';
import { startScheduledRuns } from '../../lib/aggregation/triggers';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { startAggregationRun } from '../../lib/aggregation/start-run';

/** The schedule's event (EventBridge); only its time is used. */
export const input = z.looseObject({ time: z.string().optional() });

/**
 * Every minute (EventBridge schedule): starts a run for each model with `allow_aggregation` whose
 * round can be aggregated now (lib/aggregation/triggers.ts), and none for idle models. The
 * execution name holds the minute, so a repeated delivery of the same event starts nothing new.
 */
export const handler = createHandler({ input }, async (event: Partial<ScheduledEvent>) =>
  startScheduledRuns(getConnector(), startAggregationRun, event.time ?? new Date()),
);
