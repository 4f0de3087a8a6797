import { z } from 'zod';
import { updatesJson } from '../../lib/api/operation-results';
import { Id, IncludeWeights, OptionalParent } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({
  model: Id,
  parent_agg: OptionalParent,
  include_weights: IncludeWeights,
  /** Answer with the updates' ids alone: what a state machine carries (256 KB per state). */
  ids_only: z.boolean().default(false),
});

/** `pull_model_updates_ready_for_aggregation`: pending updates within the base-aggregate window. */
export const handler = createHandler({ input }, async ({ model, parent_agg, include_weights, ids_only }) => {
  const connector = getConnector();
  const ready = await connector.pullModelUpdatesReadyForAggregation(model, parent_agg);
  if (ids_only) return ready.map((update) => update.id);
  return updatesJson(connector, ready, include_weights);
});
