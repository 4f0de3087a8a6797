import { accumulate, finish, getMeanAggregator, type MeanAggregator } from '../algorithms';
import { parseStrategy } from '../algorithms/strategies';
import type { MetadataConnector } from '../connector';
import type { FederatedModel, ModelAggregate, ModelUpdate } from '../entities';
import { AggregationError } from '../algorithms';
import { NotFoundError } from '../errors';
import { describeShape, sameShape, UnreadableWeightsError } from '../weights';
import { combineWithStrategy, isPlainMean } from './combine-with-strategy';
import { getObjectStore } from '../store';
import { streamWeights } from '../store/weights';

export interface AggregationStep {
  readonly model: number;
  readonly run: string;
  readonly parentAgg: number | null;
  /** The lease's length: it is renewed every quarter of this while the run works. */
  readonly leaseSeconds: number;
}

/**
 * The aggregation proper: the run's claimed updates, combined by the model's aggregator, stored
 * as a child of `parentAgg`.
 *
 * The aggregator plans the mean from the updates' metadata alone (shapes, example counts), so a
 * bad round fails before any byte is read. The weights are then streamed from the object store a
 * few at a time into reused buffers and folded into one float64 sum in update order: peak memory
 * is the sum plus a few updates, whatever their number, and the result is the same, bit for bit,
 * as the in-memory aggregator's.
 *
 * One bad update does not sink the round: an update whose metadata the aggregator cannot use, or
 * whose bytes are missing or corrupt, is set aside as INVALID with the reason, and the rest are
 * aggregated. The run's lease is renewed as it goes and once more right before the aggregate is
 * written, so a run that lost its lease (it stalled, another run took over) cannot fork the
 * aggregate chain.
 */
export async function aggregateModelUpdates(
  connector: MetadataConnector,
  { model, run, parentAgg, leaseSeconds }: AggregationStep,
): Promise<{ aggregate: ModelAggregate; modelUpdates: number; invalid: number; bytesRead: number }> {
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const strategy = parseStrategy(found.aggregator, found.aggregatorParams);
  const aggregator = isPlainMean(strategy) ? getMeanAggregator(found.aggregator) : null;
  return withLeaseRenewal(connector, model, run, leaseSeconds, async () => {
    let updates = await connector.pullModelUpdatesRegisteredForAggregation(model, { run });
    let invalid = 0;
    const setAside = async (bad: readonly ModelUpdate[], reason: (update: ModelUpdate) => string) => {
      for (const update of bad) invalid += (await connector.invalidateRunUpdates(run, [update.id], reason(update))).invalid;
      const ids = new Set(bad.map((update) => update.id));
      updates = updates.filter((update) => !ids.has(update.id));
    };
    /** Sets aside the update whose bytes could not be used (missing, corrupt, not finite), named by its key. */
    const setAsideUnreadable = async (error: UnreadableWeightsError) => {
      const update = updates.find((candidate) => candidate.weights.key === error.key);
      if (update === undefined) throw error; // not an update's bytes (the parent's): the run fails
      await setAside([update], () => error.message);
    };
    const unusable = unusableUpdates(updates, aggregator, found);
    await setAside(unusable.map(([update]) => update), (update) => unusable.find(([u]) => u === update)![1]);
    // Issue #11: robust aggregators, server optimizers, clipping and DP, staleness weighting.
    // Each pass either aggregates or sets one more update aside, so this ends.
    while (aggregator === null) {
      if (updates.length === 0) throw new AggregationError('no update of this run can be aggregated (all were set aside as INVALID)');
      const parent = parentAgg === null ? null : await connector.pullModelAggregate(parentAgg);
      let combined;
      try {
        combined = await combineWithStrategy(connector, { model: found, strategy, updates, parent });
      } catch (error) {
        if (!(error instanceof UnreadableWeightsError)) throw error;
        await setAsideUnreadable(error);
        continue;
      }
      const { shape, values, record } = combined;
      await connector.renewAggregationLease(model, run, leaseSeconds);
      const aggregate = await connector.postNewModelAggregateWeights(
        model,
        parentAgg,
        { layout: shape.layout, shapes: shape.shapes, values },
        { run, strategy: record },
      );
      return { aggregate, modelUpdates: updates.length, invalid, bytesRead: bytesOf(updates) };
    }
    // Each pass either aggregates or sets one more update aside, so this ends.
    for (;;) {
      if (updates.length === 0) throw new AggregationError('no update of this run can be aggregated (all were set aside as INVALID)');
      const plan = aggregator.plan(updates.map((update) => ({ shape: update.weights, numExamples: update.numExamples })));
      const sum = new Float64Array(plan.shape.length);
      try {
        await streamWeights(getObjectStore(), updates.map((update) => update.weights), (values, i) => accumulate(sum, values, plan.factors[i]!));
      } catch (error) {
        if (!(error instanceof UnreadableWeightsError)) throw error;
        await setAsideUnreadable(error);
        continue;
      }
      const values = finish(sum, plan.divisor);
      await connector.renewAggregationLease(model, run, leaseSeconds);
      const aggregate = await connector.postNewModelAggregateWeights(
        model,
        parentAgg,
        { layout: plan.shape.layout, shapes: plan.shape.shapes, values },
        { run },
      );
      return { aggregate, modelUpdates: updates.length, invalid, bytesRead: bytesOf(updates) };
    }
  });
}

/** The stored bytes of the updates (what an aggregation of them reads, once each). */
function bytesOf(updates: readonly ModelUpdate[]): number {
  return updates.reduce((sum, update) => sum + update.weights.byteSize, 0);
}

/**
 * Updates the aggregator could never use, each with the reason: a shape other than the model's
 * (or, for a model without one yet, the first update's), or metadata the aggregator refuses
 * (weighted FedAvg without `num_examples`). The door refuses both; this catches documents
 * written around it or before the checks existed.
 */
export function unusableUpdates(updates: readonly ModelUpdate[], aggregator: MeanAggregator | null, model: FederatedModel): [ModelUpdate, string][] {
  const expected = model.weightsShape ?? updates[0]?.weights;
  const bad: [ModelUpdate, string][] = [];
  for (const update of updates) {
    if (expected !== undefined && (!sameShape(expected, update.weights) || expected.length !== update.weights.length)) {
      bad.push([update, `has shape ${describeShape(update.weights)}, but the model's is ${describeShape(expected)}`]);
      continue;
    }
    try {
      aggregator?.plan([{ shape: update.weights, numExamples: update.numExamples }]);
    } catch (error) {
      if (!(error instanceof AggregationError)) throw error;
      bad.push([update, error.message]);
    }
  }
  return bad;
}

/**
 * Runs `work` while renewing the run's lease every quarter of its length. These renewals are
 * best effort (one that fails is tried again a quarter later); the renewal right before the
 * aggregate is written is the one that decides, and it throws when the lease was lost.
 */
export async function withLeaseRenewal<T>(
  connector: MetadataConnector,
  model: number,
  run: string,
  leaseSeconds: number,
  work: () => Promise<T>,
): Promise<T> {
  await connector.renewAggregationLease(model, run, leaseSeconds);
  const timer = setInterval(() => {
    connector.renewAggregationLease(model, run, leaseSeconds).catch(() => undefined);
  }, (leaseSeconds * 1_000) / 4);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
