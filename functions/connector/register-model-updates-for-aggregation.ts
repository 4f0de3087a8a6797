import { z } from 'zod';
import { Id, IdList, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model_updates: IdList, run: Run.optional(), model: Id.optional() });

/**
 * `register_model_updates_for_aggregation`: claims the updates for a run (one guarded
 * updateMany); answers which of them the run holds. Without `run`, a new run id is made.
 */
export const handler = createHandler({ input }, async ({ model_updates, run, model }) => {
  const result = await getConnector().registerModelUpdatesForAggregation(model_updates, { run, model });
  return { run: result.run, claimed: result.claimed, not_claimed: result.notClaimed };
});
