import { z } from 'zod';
import { aggregateJson } from '../../lib/api/operation-results';
import { Id, IncludeWeights } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, include_weights: IncludeWeights });

/** `pull_latest_model_aggregate`: the model's newest aggregate, or null. */
export const handler = createHandler({ input }, async ({ model, include_weights }) => {
  const connector = getConnector();
  return aggregateJson(connector, await connector.pullLatestModelAggregate(model), include_weights);
});
