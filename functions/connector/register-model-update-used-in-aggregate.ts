import { z } from 'zod';
import { Id, IdList, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model_updates: IdList, aggregate: Id, run: Run.optional() });

/** `register_model_update_used_in_aggregate`: records the aggregate on RUNNING updates. */
export const handler = createHandler({ input }, async ({ model_updates, aggregate, run }) => {
  const result = await getConnector().registerModelUpdateUsedInAggregate(model_updates, aggregate, { run });
  return { updated: result.updated, not_updated: result.notUpdated };
});
