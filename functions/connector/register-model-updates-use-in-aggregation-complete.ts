import { z } from 'zod';
import { IdList, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { ReasonSchema } from '../../lib/entities';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({
  model_updates: IdList,
  is_successful: z.boolean({ error: 'must be true or false' }),
  run: Run.optional(),
  reason: ReasonSchema.optional(),
});

/** `register_model_updates_use_in_aggregation_complete`: RUNNING → COMPLETE, or → FAILED. */
export const handler = createHandler({ input }, async ({ model_updates, is_successful, run, reason }) => {
  const result = await getConnector().registerModelUpdatesUseInAggregationComplete(model_updates, is_successful, {
    run,
    reason,
  });
  return { updated: result.updated, not_updated: result.notUpdated };
});
