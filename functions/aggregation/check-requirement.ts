import { z } from 'zod';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { assessRound } from '../../lib/aggregation/round-readiness';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, parent_agg: OptionalParent });

/**
 * Whether the model's round can be aggregated now (lib/aggregation/round-readiness.ts): none ready,
 * fewer than the strategy can combine, or a requirement not met is "not met", and the round waits.
 * Renews the run's lease first. An unknown requirement (RequirementError) or strategy
 * (StrategyError) fails the run before it claims anything. Answers a count, never ids.
 */
export const handler = createHandler({ input }, async ({ model, run, parent_agg }) => {
  const connector = getConnector();
  await connector.renewAggregationLease(model, run, getConfig().AGGREGATION_LEASE_SECONDS);
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const readiness = await assessRound(connector, found, parent_agg);
  return { ...readiness, requirement: found.requirement };
});
