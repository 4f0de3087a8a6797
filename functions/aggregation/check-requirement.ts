import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { checkRequirement } from '../../lib/algorithms';
import { minimumUpdates, parseStrategy } from '../../lib/algorithms/strategies';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Whether the model's ready updates (those based within its window of `parent_agg`) meet its
 * requirement; none ready is "not met", and so are fewer than the strategy can combine (Krum's
 * n ≥ 2f + 3): the round waits for more rather than failing every time it is checked. Renews the
 * run's lease first. An unknown requirement is a RequirementError, and an unknown aggregator or
 * bad aggregator_params a StrategyError (an AggregationError): either fails the run before it
 * claims anything, never a silent pass. Answers a count, never ids.
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const connector = getConnector();
  await connector.renewAggregationLease(model, run, getConfig().AGGREGATION_LEASE_SECONDS);
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const strategy = parseStrategy(found.aggregator, found.aggregatorParams);
  const ready = await connector.pullModelUpdatesReadyForAggregation(model, parent_agg);
  const notMet = (reason: string) => ({ met: false, reason, requirement: found.requirement, ready: ready.length });
  if (ready.length === 0) return notMet('no updates are ready');
  const needed = minimumUpdates(strategy);
  if (ready.length < needed) return notMet(`${strategy.name} needs at least ${needed} updates; ${ready.length} are ready`);
  const verdict = checkRequirement(found.requirement, found.requirementArgs, {
    modelClients: found.requirement === 'all_clients' || found.requirement === 'deadline' ? await connector.pullModelClients(found.id) : [],
    updateClients: ready.map((update) => update.client),
    updateCreatedOn: ready.map((update) => update.createdOn),
  });
  return { met: verdict.met, reason: verdict.reason, requirement: found.requirement, ready: ready.length };
});
