import { z } from 'zod';
import { Id, IdList } from '../../lib/api/operation-fields';
import { checkRequirement } from '../../lib/algorithms';
import { assertStrategyCanCombine, parseStrategy } from '../../lib/algorithms/strategies';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, model_updates: IdList });

/**
 * Whether the ready updates meet the model's requirement. An unknown requirement is a
 * RequirementError, and an unknown aggregator, bad aggregator_params or too few updates for the
 * strategy (Krum's n ≥ 2f + 3) a StrategyError (an AggregationError): either fails the run before it
 * claims anything, never a silent pass.
 */
export const handler = createHandler({ input }, async ({ model, model_updates }) => {
  const connector = getConnector();
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const updates = await connector.pullModelUpdates(model_updates);
  assertStrategyCanCombine(parseStrategy(found.aggregator, found.aggregatorParams), updates.length);
  const verdict = checkRequirement(found.requirement, found.requirementArgs, {
    modelClients: found.clients,
    updateClients: updates.map((update) => update.client),
    updateCreatedOn: updates.map((update) => update.createdOn),
  });
  return { met: verdict.met, reason: verdict.reason, requirement: found.requirement };
});
