import { accumulate, finish, getMeanAggregator } from '../algorithms';
import { parseStrategy } from '../algorithms/strategies';
import type { MetadataConnector } from '../connector';
import type { ModelAggregate } from '../entities';
import { NotFoundError } from '../errors';
import { combineWithStrategy, isPlainMean } from './combine-with-strategy';

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
  const strategy = parseStrategy(found.aggregator, found.aggregatorParams);
  const updates = await connector.pullModelUpdatesRegisteredForAggregation(model, { run });
  if (!isPlainMean(strategy)) {
    // Issue #11: robust aggregators, server optimizers, clipping and DP, staleness weighting.
    const parent = parentAgg === null ? null : await connector.pullModelAggregate(parentAgg);
    const { shape, values, record } = await combineWithStrategy(connector, { model: found, strategy, updates, parent });
    await connector.assertAggregationLease(model, run);
    const aggregate = await connector.postNewModelAggregateWeights(
      model,
      parentAgg,
      { layout: shape.layout, shapes: shape.shapes, values },
      { run, strategy: record },
    );
    return { aggregate, modelUpdates: updates.map((update) => update.id) };
  }
  const aggregator = getMeanAggregator(found.aggregator);
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
