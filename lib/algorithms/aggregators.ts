import { AggregationError, ValidationError } from '../errors';

export { AggregationError };
import { describeShape, sameShape, type Weights, type WeightsShape } from '../weights';

/** One update's contribution to an aggregation. */
export interface AggregationInput {
  readonly weights: Weights;
  /** Examples the client trained on; the weight of its update in weighted FedAvg. */
  readonly numExamples: number | null;
}

/** What an aggregator needs to know of an update before it sees any value. */
export interface UpdateMetadata {
  readonly shape: WeightsShape;
  readonly numExamples: number | null;
}

/**
 * How a weighted mean combines N updates: the aggregate is Σ factorᵢ · valuesᵢ / divisor,
 * element-wise. Computed from metadata alone, so the values can be streamed in afterwards.
 */
export interface MeanPlan {
  readonly shape: WeightsShape;
  readonly factors: readonly number[];
  readonly divisor: number;
}

/**
 * An aggregator of the weighted-mean family: it checks the updates' metadata and plans the mean.
 * The values are then folded in one update at a time (`accumulate`), so memory grows with the
 * model, not with the number of updates, and `finish` divides once.
 */
export interface MeanAggregator {
  readonly name: string;
  plan(inputs: readonly UpdateMetadata[]): MeanPlan;
}

export type Aggregator = (inputs: readonly AggregationInput[]) => Weights;


function requireCompatible(inputs: readonly UpdateMetadata[], aggregator: string): WeightsShape {
  const [first] = inputs;
  if (first === undefined) throw new AggregationError(`${aggregator}: there are no updates to aggregate`);
  for (const input of inputs) {
    if (!sameShape(first.shape, input.shape) || first.shape.length !== input.shape.length) {
      throw new AggregationError(
        `${aggregator}: updates have different shapes (${describeShape(first.shape)} and ${describeShape(input.shape)})`,
      );
    }
  }
  return first.shape;
}

/**
 * sum += factor · values, element-wise. Summing first and dividing once (`finish`), as numpy's
 * mean does, gives FMA's exact results (`(1+5+3)/3` is 3, where adding thirds is not). A factor
 * of 1 skips the product, which changes no bit (1 · x is x) and saves time on the hot loop.
 */
export function accumulate(sum: Float64Array, values: Float32Array | Float64Array, factor: number): void {
  const n = sum.length;
  if (values.length !== n) throw new AggregationError(`an update holds ${values.length} values, not ${n}`);
  if (factor === 1) {
    for (let j = 0; j < n; j += 1) sum[j]! += values[j]!;
  } else {
    for (let j = 0; j < n; j += 1) sum[j]! += factor * values[j]!;
  }
}

/** sum /= divisor in place; an overflow (a non-finite result) is an AggregationError, never stored. */
export function finish(sum: Float64Array, divisor: number): Float64Array {
  for (let j = 0; j < sum.length; j += 1) sum[j]! /= divisor;
  for (let j = 0; j < sum.length; j += 1) {
    if (!Number.isFinite(sum[j]!)) throw new AggregationError('the aggregate holds NaN or Infinity (overflow)');
  }
  return sum;
}

/** Runs a mean aggregator over weights already in memory (the same kernels as the streamed path). */
export function aggregateInMemory(aggregator: MeanAggregator, inputs: readonly AggregationInput[]): Weights {
  const plan = aggregator.plan(
    inputs.map((input) => ({
      shape: { layout: input.weights.layout, shapes: input.weights.shapes, length: input.weights.values.length },
      numExamples: input.numExamples,
    })),
  );
  const sum = new Float64Array(plan.shape.length);
  inputs.forEach((input, i) => accumulate(sum, input.weights.values, plan.factors[i]!));
  return { layout: plan.shape.layout, shapes: plan.shape.shapes, values: finish(sum, plan.divisor) };
}

function unweightedMean(name: string, check: (shape: WeightsShape) => void = () => undefined): MeanAggregator {
  return {
    name,
    plan(inputs) {
      const shape = requireCompatible(inputs, name);
      check(shape);
      return { shape, factors: inputs.map(() => 1), divisor: inputs.length };
    },
  };
}

/**
 * FMA's `avg_values_if_data`: the element-wise mean of equally shaped updates.
 * `[1,2,4]` and `[5,2,3]` give `[3, 2, 3.5]`.
 */
export const AVG_VALUES_IF_DATA = unweightedMean('avg_values_if_data');

/**
 * FMA's `average_layers`: the mean of each layer of a list of layers.
 * `[[2],[2,4,5],[2]]` and `[[3],[1,3,4],[1]]` give `[[2.5],[1.5,3.5,4.5],[1.5]]`.
 * A flat vector is averaged as FMA does it, each element its own layer (the element-wise mean):
 * `[1,2,4]` and `[5,2,3]` give `[3.0, 2.0, 3.5]`.
 */
export const AVERAGE_LAYERS = unweightedMean('average_layers');

/**
 * Weighted FedAvg (McMahan et al.): each update weighs by its number of examples,
 * Σ nᵢ·wᵢ / Σ nᵢ. Every update must say how many examples it trained on.
 */
export const WEIGHTED_FEDAVG: MeanAggregator = {
  name: 'weighted_fedavg',
  plan(inputs) {
    const shape = requireCompatible(inputs, 'weighted_fedavg');
    const counts = inputs.map((input) => input.numExamples);
    if (counts.some((count) => count === null || count <= 0)) {
      throw new AggregationError('weighted_fedavg: every update needs num_examples > 0');
    }
    const factors = counts as number[];
    return { shape, factors, divisor: factors.reduce((sum, count) => sum + count, 0) };
  },
};

/**
 * Refuses at the door (400 on `num_examples`) an update that its model's aggregator could never
 * use: weighted FedAvg needs every update's `num_examples` > 0, and one update without it would
 * fail every run of the round, honest updates included.
 */
export function assertUsableByAggregator(aggregator: string, numExamples: number | null, field = 'num_examples'): void {
  if (aggregator !== WEIGHTED_FEDAVG.name || (numExamples !== null && numExamples > 0)) return;
  const message = `is required and must be at least 1: this model's aggregator, weighted_fedavg, weighs each update by it`;
  throw new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}

/** Aggregators by the name a model is created with. */
export const MEAN_AGGREGATORS: Readonly<Record<string, MeanAggregator>> = Object.freeze({
  avg_values_if_data: AVG_VALUES_IF_DATA,
  average_layers: AVERAGE_LAYERS,
  weighted_fedavg: WEIGHTED_FEDAVG,
});

export const AGGREGATOR_NAMES = Object.keys(MEAN_AGGREGATORS);

/** The aggregator of that name; an unknown name is an error, never a silent default. */
export function getMeanAggregator(name: string): MeanAggregator {
  if (!Object.hasOwn(MEAN_AGGREGATORS, name)) {
    throw new AggregationError(`Unknown aggregator "${name}"; known aggregators: ${AGGREGATOR_NAMES.join(', ')}`);
  }
  return MEAN_AGGREGATORS[name]!;
}

function inMemory(aggregator: MeanAggregator): Aggregator {
  return (inputs) => aggregateInMemory(aggregator, inputs);
}

export const avgValuesIfData: Aggregator = inMemory(AVG_VALUES_IF_DATA);
export const averageLayers: Aggregator = inMemory(AVERAGE_LAYERS);
export const weightedFedAvg: Aggregator = inMemory(WEIGHTED_FEDAVG);

/** Aggregators as functions of weights in memory, by name. */
export const AGGREGATORS: Readonly<Record<string, Aggregator>> = Object.freeze({
  avg_values_if_data: avgValuesIfData,
  average_layers: averageLayers,
  weighted_fedavg: weightedFedAvg,
});

/** The aggregator of that name as a function of weights in memory; unknown names are errors. */
export function getAggregator(name: string): Aggregator {
  getMeanAggregator(name);
  return AGGREGATORS[name]!;
}
