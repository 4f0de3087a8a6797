import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { checkRequirement, getMeanAggregator } from '../../lib/algorithms';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Whether the model's ready updates (those based within its window of `parent_agg`) meet its
 * requirement; none ready is "not met". Renews the run's lease first. An unknown requirement is a
 * RequirementError, and an unknown aggregator an AggregationError (data written directly or
 * migrated): either fails the run before it claims anything, never a silent pass. Answers a
 * count, never ids.
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const connector = getConnector();
  await connector.renewAggregationLease(model, run, getConfig().AGGREGATION_LEASE_SECONDS);
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  getMeanAggregator(found.aggregator);
  const ready = await connector.pullModelUpdatesReadyForAggregation(model, parent_agg);
  if (ready.length === 0) return { met: false, reason: 'no updates are ready', requirement: found.requirement, ready: 0 };
  const verdict = checkRequirement(found.requirement, found.requirementArgs, {
    modelClients: found.requirement === 'all_clients' ? await connector.pullModelClients(found.id) : [],
    updateClients: ready.map((update) => update.client),
  });
  return { met: verdict.met, reason: verdict.reason, requirement: found.requirement, ready: ready.length };
});
