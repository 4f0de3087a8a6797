import { AggregationError, averageLayers, avgValuesIfData, getAggregator, weightedFedAvg } from '../../lib/algorithms';
import { parseWeights, weightsToJson } from '../../lib/weights';

const inputs = (...items: [unknown, number | null][]) =>
  items.map(([json, numExamples]) => ({ weights: parseWeights(json), numExamples }));

describe('aggregators', () => {
  it('avg_values_if_data: [1,2,4] and [5,2,3] give [3, 2, 3.5] (FMA)', () => {
    expect(weightsToJson(avgValuesIfData(inputs([[1, 2, 4], null], [[5, 2, 3], null])))).toEqual([3, 2, 3.5]);
  });

  it('average_layers: per-layer means (FMA)', () => {
    const result = averageLayers(inputs([[[2], [2, 4, 5], [2]], null], [[[3], [1, 3, 4], [1]], null]));
    expect(weightsToJson(result)).toEqual([[2.5], [1.5, 3.5, 4.5], [1.5]]);
  });

  it('average_layers on a flat vector: each element its own layer, [1,2,4] and [5,2,3] give [3.0, 2.0, 3.5] (FMA)', () => {
    expect(weightsToJson(averageLayers(inputs([[1, 2, 4], null], [[5, 2, 3], null])))).toEqual([3.0, 2.0, 3.5]);
  });

  it('average_layers keeps nested layer shapes', () => {
    const result = averageLayers(inputs([[[[1, 2], [3, 4]], [10]], null], [[[[3, 4], [5, 6]], [20]], null]));
    expect(weightsToJson(result)).toEqual([[[2, 3], [4, 5]], [15]]);
  });

  it('weighted_fedavg weighs each update by its examples: (1·[0,10] + 3·[4,2]) / 4 = [3, 4]', () => {
    const result = weightedFedAvg(inputs([[0, 10], 1], [[4, 2], 3]));
    expect(weightsToJson(result)).toEqual([3, 4]);
  });

  it('weighted_fedavg equals the plain mean when every client saw as many examples', () => {
    const same = inputs([[[2], [2, 4, 5]], 50], [[[3], [1, 3, 4]], 50]);
    expect(weightsToJson(weightedFedAvg(same))).toEqual(weightsToJson(averageLayers(same)));
  });

  it('weighted_fedavg refuses updates without a positive example count', () => {
    expect(() => weightedFedAvg(inputs([[1], 2], [[2], null]))).toThrow(/num_examples/);
    expect(() => weightedFedAvg(inputs([[1], 0]))).toThrow(AggregationError);
  });

  it.each([
    ['avg_values_if_data', avgValuesIfData],
    ['average_layers', averageLayers],
    ['weighted_fedavg', weightedFedAvg],
  ])('%s refuses an empty input instead of returning NaN', (_, aggregate) => {
    expect(() => aggregate([])).toThrow(/no updates/);
  });

  it('refuses updates of different shapes', () => {
    expect(() => avgValuesIfData(inputs([[1, 2], null], [[1, 2, 3], null]))).toThrow(/different shapes/);
    expect(() => averageLayers(inputs([[[1], [2]], null], [[[1], [2, 3]], null]))).toThrow(/different shapes/);
  });

  it('averages thirds exactly as FMA (numpy) does: sum, then divide', () => {
    expect(weightsToJson(avgValuesIfData(inputs([[1, 2, 4], null], [[5, 2, 3], null], [[3, 2, 2], null])))).toEqual([3, 2, 3]);
  });

  it('refuses a sum that overflows to Infinity instead of storing it (weights stored before the magnitude bound)', () => {
    // The door (parseWeights, uploads) refuses |x| > 1e150 now; weights built directly still overflow.
    const huge = { weights: { layout: 'vector' as const, shapes: [[1]], values: Float64Array.of(1.7e308) }, numExamples: null };
    expect(() => avgValuesIfData([huge, huge])).toThrow(AggregationError);
  });

  it('cannot overflow on inputs within the door bound: 1,000 updates of ±1e150 weighted by 2^53 - 1', () => {
    const extreme = [[1e150, -1e150], Number.MAX_SAFE_INTEGER] as [unknown, number];
    const result = weightedFedAvg(inputs(...Array.from({ length: 1_000 }, () => extreme)));
    expect(Array.from(result.values).every(Number.isFinite)).toBe(true);
  });

  it('names the known aggregators when asked for an unknown one', () => {
    expect(getAggregator('weighted_fedavg')).toBe(weightedFedAvg);
    expect(() => getAggregator('median')).toThrow(/known aggregators: avg_values_if_data, average_layers, weighted_fedavg/);
    expect(() => getAggregator('toString')).toThrow(AggregationError);
  });
});
