import { getAggregator } from '../algorithms';
import type { MetadataConnector } from '../connector';
import type { ModelAggregate } from '../entities';
import { NotFoundError } from '../errors';

export interface AggregationStep {
  readonly model: number;
  readonly run: string;
  readonly parentAgg: number | null;
}

/**
 * The aggregation proper: the run's claimed updates, combined by the model's aggregator, stored
 * as a child of `parentAgg`. Checks the run still holds the model's lease right before it writes,
 * so a run that outlived its lease cannot fork the aggregate chain.
 */
export async function aggregateModelUpdates(
  connector: MetadataConnector,
  { model, run, parentAgg }: AggregationStep,
): Promise<{ aggregate: ModelAggregate; modelUpdates: number[] }> {
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const aggregator = getAggregator(found.aggregator);
  const updates = await connector.pullModelUpdatesRegisteredForAggregation(model, { run });
  const weights = await connector.pullModelUpdateWeights(updates.map((update) => update.id));
  const result = aggregator(
    updates.map((update) => ({ weights: weights.get(update.id)!, numExamples: update.numExamples })),
  );
  await connector.assertAggregationLease(model, run);
  const aggregate = await connector.postNewModelAggregateWeights(model, parentAgg, result, { run });
  return { aggregate, modelUpdates: updates.map((update) => update.id) };
}
