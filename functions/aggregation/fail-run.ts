import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, reason: z.string().max(1_000).optional() });

/**
 * After a failure past the claim: every update the run holds goes RUNNING → FAILED (eligible
 * again). Works from the database, so it needs no list of ids from the failed state.
 */
export const handler = createHandler({ input }, async ({ model, run, reason }) => {
  const connector = getConnector();
  const held = await connector.pullModelUpdatesRegisteredForAggregation(model, { run });
  const result = await connector.registerModelUpdatesUseInAggregationComplete(
    held.map((update) => update.id),
    false,
    { run, reason: reason ?? 'the aggregation run failed' },
  );
  return { failed: result.updated };
});
