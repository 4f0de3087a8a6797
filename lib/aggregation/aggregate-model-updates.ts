import { accumulate, finish, getMeanAggregator } from '../algorithms';
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
 * as a child of `parentAgg`.
 *
 * The aggregator plans the mean from the updates' metadata alone (shapes, example counts), so a
 * bad round fails before any byte is read. The weights are then streamed from the object store a
 * few at a time into reused buffers and folded into one float64 sum in update order: peak memory
 * is the sum plus a few updates, whatever their number, and the result is the same, bit for bit,
 * as the in-memory aggregator's. The lease is checked again right before the aggregate is
 * written, so a run that outlived its lease cannot fork the aggregate chain.
 */
export async function aggregateModelUpdates(
  connector: MetadataConnector,
  { model, run, parentAgg }: AggregationStep,
): Promise<{ aggregate: ModelAggregate; modelUpdates: number[] }> {
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const aggregator = getMeanAggregator(found.aggregator);
  const updates = await connector.pullModelUpdatesRegisteredForAggregation(model, { run });
  const plan = aggregator.plan(updates.map((update) => ({ shape: update.weights, numExamples: update.numExamples })));
  const sum = new Float64Array(plan.shape.length);
  await connector.streamModelUpdateWeights(updates, (values, i) => accumulate(sum, values, plan.factors[i]!));
  const values = finish(sum, plan.divisor);
  await connector.assertAggregationLease(model, run);
  const aggregate = await connector.postNewModelAggregateWeights(
    model,
    parentAgg,
    { layout: plan.shape.layout, shapes: plan.shape.shapes, values },
    { run },
  );
  return { aggregate, modelUpdates: updates.map((update) => update.id) };
}
