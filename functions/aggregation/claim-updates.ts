import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Claims every ready update of the model for the run, after renewing the run's lease. Answers a
 * count, never ids: the run id is the handle on what it holds, so the state stays small.
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const connector = getConnector();
  await connector.renewAggregationLease(model, run, getConfig().AGGREGATION_LEASE_SECONDS);
  const { claimed } = await connector.claimReadyUpdates(model, parent_agg, run);
  return { claimed };
});
