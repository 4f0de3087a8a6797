import { z } from 'zod';
import { Id, IdList } from '../../lib/api/operation-fields';
import { checkRequirement, getMeanAggregator } from '../../lib/algorithms';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, model_updates: IdList });

/**
 * Whether the ready updates meet the model's requirement. An unknown requirement is a
 * RequirementError, and an unknown aggregator an AggregationError (data written directly or
 * migrated): either fails the run before it claims anything, never a silent pass.
 */
export const handler = createHandler({ input }, async ({ model, model_updates }) => {
  const connector = getConnector();
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  getMeanAggregator(found.aggregator);
  const updates = await connector.pullModelUpdates(model_updates);
  const verdict = checkRequirement(found.requirement, found.requirementArgs, {
    modelClients: found.requirement === 'all_clients' ? await connector.pullModelClients(found.id) : [],
    updateClients: updates.map((update) => update.client),
  });
  return { met: verdict.met, reason: verdict.reason, requirement: found.requirement };
});
