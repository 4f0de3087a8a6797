import { z } from 'zod';
import { updatesJson } from '../../lib/api/operation-results';
import { Id, IncludeWeights } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, include_weights: IncludeWeights });

/** `pull_model_updates_pending_aggregation`: PENDING/FAILED updates of the model's clients. */
export const handler = createHandler({ input }, async ({ model, include_weights }) => {
  const connector = getConnector();
  return updatesJson(connector, await connector.pullModelUpdatesPendingAggregation(model), include_weights);
});
