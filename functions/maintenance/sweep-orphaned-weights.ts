import type { ScheduledEvent } from 'aws-lambda';
import { z } from 'zod';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

/** The schedule's event (EventBridge); only its time is used. */
export const input = z.looseObject({ time: z.string().optional() });

/** An object younger than this may belong to a write still in flight; it is left alone. */
const MINIMUM_AGE_MS = 24 * 60 * 60 * 1_000;

/**
 * Once a day: deletes weight objects (updates, aggregates, artifacts, optimizer state) that were
 * written over a day ago and that no document refers to: the bytes a crash left between the store
 * and the database; and expired Idempotency-Key records, ended rate-limit windows and month-old
 * run records, where the database has no TTL index to do it. Answers how many objects it listed
 * and deleted, and how many keys, windows and runs it forgot.
 */
export const handler = createHandler({ input }, async (event: Partial<ScheduledEvent>) => {
  const now = event.time === undefined ? Date.now() : Date.parse(event.time);
  const connector = getConnector();
  const swept = await connector.sweepOrphanedWeights(new Date(now - MINIMUM_AGE_MS));
  return {
    ...swept,
    expiredIdempotencyKeys: await connector.deleteExpiredIdempotencyKeys(new Date(now)),
    endedRateLimitWindows: await connector.deleteEndedRateLimitWindows(new Date(now)),
    expiredAggregationRuns: await connector.deleteExpiredAggregationRuns(new Date(now)),
  };
});
