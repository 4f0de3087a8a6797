import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { aggregateModelUpdates } from '../../lib/aggregation/aggregate-model-updates';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Combines the updates the run claimed with the model's aggregator and stores the aggregate under
 * `parent_agg`. Weights are read and written here; the state machine only sees ids.
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const { aggregate, modelUpdates } = await aggregateModelUpdates(getConnector(), { model, run, parentAgg: parent_agg });
  return { id: aggregate.id, parent: aggregate.parent, level: aggregate.level, model_updates: modelUpdates };
});
