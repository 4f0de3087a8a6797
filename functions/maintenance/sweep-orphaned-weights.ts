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
 * and the database. Answers how many objects it listed and deleted.
 */
export const handler = createHandler({ input }, async (event: Partial<ScheduledEvent>) => {
  const now = event.time === undefined ? Date.now() : Date.parse(event.time);
  return getConnector().sweepOrphanedWeights(new Date(now - MINIMUM_AGE_MS));
});
