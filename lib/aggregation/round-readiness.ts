import { checkRequirement } from '../algorithms';
import { minimumUpdates, parseStrategy } from '../algorithms/strategies';
import type { MetadataConnector } from '../connector';
import type { FederatedModel } from '../entities';

/** Whether a model's round can be aggregated now, and why (not). */
export interface RoundReadiness {
  readonly met: boolean;
  readonly reason: string;
  /** Ready updates: pending, from members, within the base window of the parent. */
  readonly ready: number;
}

/**
 * The one test of "is there a round to aggregate" that every trigger and the run itself apply:
 * the model's ready updates (those based within its window of `parentAgg`), at least as many as
 * its strategy can combine (Krum's n ≥ 2f + 3), meeting its requirement. An unknown requirement
 * or strategy throws (RequirementError, StrategyError): for a run that is a failure before it
 * claims anything, never a silent pass.
 */
export async function assessRound(connector: MetadataConnector, model: FederatedModel, parentAgg: number | null): Promise<RoundReadiness> {
  const strategy = parseStrategy(model.aggregator, model.aggregatorParams);
  const needed = minimumUpdates(strategy);
  if (model.requirement === null || model.requirement === 'require_x_updates') {
    // These need a count only: one countDocuments, not the documents (every submission asks this).
    const count = await connector.countModelUpdatesReadyForAggregation(model.id, parentAgg);
    if (count === 0) return { met: false, reason: 'no updates are ready', ready: 0 };
    if (count < needed) return { met: false, reason: `${strategy.name} needs at least ${needed} updates; ${count} are ready`, ready: count };
    const verdict = checkRequirement(model.requirement, model.requirementArgs, { modelClients: [], updateClients: Array.from({ length: count }, () => '') });
    return { met: verdict.met, reason: verdict.reason, ready: count };
  }
  const ready = await connector.pullModelUpdatesReadyForAggregation(model.id, parentAgg);
  if (ready.length === 0) return { met: false, reason: 'no updates are ready', ready: 0 };
  if (ready.length < needed) return { met: false, reason: `${strategy.name} needs at least ${needed} updates; ${ready.length} are ready`, ready: ready.length };
  const verdict = checkRequirement(model.requirement, model.requirementArgs, {
    modelClients: model.requirement === 'all_clients' || model.requirement === 'deadline' ? await connector.pullModelClients(model.id) : [],
    updateClients: ready.map((update) => update.client),
    updateCreatedOn: ready.map((update) => update.createdOn),
  });
  return { met: verdict.met, reason: verdict.reason, ready: ready.length };
}
