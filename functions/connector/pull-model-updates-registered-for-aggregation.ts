import { z } from 'zod';
import { updatesJson } from '../../lib/api/operation-results';
import { Id, IncludeWeights, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run.optional(), include_weights: IncludeWeights });

/** `pull_model_updates_registered_for_aggregation`: RUNNING updates of the model (of one run, if given). */
export const handler = createHandler({ input }, async ({ model, run, include_weights }) => {
  const connector = getConnector();
  return updatesJson(connector, await connector.pullModelUpdatesRegisteredForAggregation(model, { run }), include_weights);
});
