import { ValidationError } from '../errors';
import { describeShape, sameShape, type Weights } from '../weights';

/** One update's contribution to an aggregation. */
export interface AggregationInput {
  readonly weights: Weights;
  /** Examples the client trained on; the weight of its update in weighted FedAvg. */
  readonly numExamples: number | null;
}

export type Aggregator = (inputs: readonly AggregationInput[]) => Weights;

/** An aggregation that cannot be computed from its inputs (empty, mismatched shapes, ...). */
export class AggregationError extends ValidationError {
  static {
    this.prototype.name = 'AggregationError';
  }
}

function requireCompatible(inputs: readonly AggregationInput[], aggregator: string): Weights {
  const [first] = inputs;
  if (first === undefined) throw new AggregationError(`${aggregator}: there are no updates to aggregate`);
  for (const input of inputs) {
    if (!sameShape(first.weights, input.weights)) {
      throw new AggregationError(
        `${aggregator}: updates have different shapes (${describeShape(first.weights)} and ${describeShape(input.weights)})`,
      );
    }
  }
  return first.weights;
}

/**
 * (Σ factorᵢ · valuesᵢ) / divisor, element-wise, into a new array. Summing first and dividing
 * once, as numpy's mean does, gives FMA's exact results (`(1+5+3)/3` is 3, where adding thirds
 * is not).
 */
function weightedSum(inputs: readonly AggregationInput[], factors: readonly number[], divisor: number): Float64Array {
  const result = new Float64Array(inputs[0]!.weights.values.length);
  inputs.forEach((input, i) => {
    const factor = factors[i]!;
    const values = input.weights.values;
    for (let j = 0; j < result.length; j += 1) result[j]! += factor * values[j]!;
  });
  for (let j = 0; j < result.length; j += 1) result[j]! /= divisor;
  if (!result.every(Number.isFinite)) throw new AggregationError('the aggregate holds NaN or Infinity (overflow)');
  return result;
}

function mean(inputs: readonly AggregationInput[], aggregator: string): Weights {
  const shape = requireCompatible(inputs, aggregator);
  return { layout: shape.layout, shapes: shape.shapes, values: weightedSum(inputs, inputs.map(() => 1), inputs.length) };
}

/**
 * FMA's `avg_values_if_data`: the element-wise mean of equally shaped updates.
 * `[1,2,4]` and `[5,2,3]` give `[3, 2, 3.5]`.
 */
export const avgValuesIfData: Aggregator = (inputs) => mean(inputs, 'avg_values_if_data');

/**
 * FMA's `average_layers`: the mean of each layer of a list of layers.
 * `[[2],[2,4,5],[2]]` and `[[3],[1,3,4],[1]]` give `[[2.5],[1.5,3.5,4.5],[1.5]]`.
 */
export const averageLayers: Aggregator = (inputs) => {
  const shape = requireCompatible(inputs, 'average_layers');
  if (shape.layout !== 'layers') throw new AggregationError('average_layers: updates must be lists of layers');
  return mean(inputs, 'average_layers');
};

/**
 * Weighted FedAvg (McMahan et al.): each update weighs by its number of examples,
 * Σ nᵢ·wᵢ / Σ nᵢ. Every update must say how many examples it trained on.
 */
export const weightedFedAvg: Aggregator = (inputs) => {
  const shape = requireCompatible(inputs, 'weighted_fedavg');
  const counts = inputs.map((input) => input.numExamples);
  if (counts.some((count) => count === null || count <= 0)) {
    throw new AggregationError('weighted_fedavg: every update needs num_examples > 0');
  }
  const total = (counts as number[]).reduce((sum, count) => sum + count, 0);
  return {
    layout: shape.layout,
    shapes: shape.shapes,
    values: weightedSum(inputs, counts as number[], total),
  };
};

/** Aggregators by the name a model is created with. */
export const AGGREGATORS: Readonly<Record<string, Aggregator>> = Object.freeze({
  avg_values_if_data: avgValuesIfData,
  average_layers: averageLayers,
  weighted_fedavg: weightedFedAvg,
});

export const AGGREGATOR_NAMES = Object.keys(AGGREGATORS);

/** The aggregator of that name; an unknown name is an error, never a silent default. */
export function getAggregator(name: string): Aggregator {
  if (!Object.hasOwn(AGGREGATORS, name)) {
    throw new AggregationError(`Unknown aggregator "${name}"; known aggregators: ${AGGREGATOR_NAMES.join(', ')}`);
  }
  return AGGREGATORS[name]!;
}
