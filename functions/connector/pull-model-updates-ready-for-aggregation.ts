import { z } from 'zod';
import { updatesJson } from '../../lib/api/operation-results';
import { Id, IncludeWeights, OptionalParent } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, parent_agg: OptionalParent, include_weights: IncludeWeights });

/** `pull_model_updates_ready_for_aggregation`: pending updates within the base-aggregate window. */
export const handler = createHandler({ input }, async ({ model, parent_agg, include_weights }) => {
  const connector = getConnector();
  return updatesJson(connector, await connector.pullModelUpdatesReadyForAggregation(model, parent_agg), include_weights);
});
