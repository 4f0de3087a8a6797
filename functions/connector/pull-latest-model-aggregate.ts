import { z } from 'zod';
import { aggregateJson } from '../../lib/api/operation-results';
import { Id, IncludeWeights } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({
  model: Id,
  include_weights: IncludeWeights,
  /** Answer with the aggregate's id (or null) alone: what a state machine carries. */
  id_only: z.boolean().default(false),
});

/** `pull_latest_model_aggregate`: the model's newest aggregate, or null. */
export const handler = createHandler({ input }, async ({ model, include_weights, id_only }) => {
  const connector = getConnector();
  const latest = await connector.pullLatestModelAggregate(model);
  if (id_only) return latest?.id ?? null;
  return aggregateJson(latest, include_weights);
});
