import { ValidationError } from '../errors';

/**
 * Model weights in memory: every number in one Float64Array (so aggregators loop over flat
 * arrays, never over JSON), plus the shape needed to give the caller back what it sent.
 *
 * - `vector`: a flat list of numbers, `[1, 2, 4]`; `shapes` is `[[3]]`.
 * - `layers`: a list of layers, each a (possibly nested, rectangular) list of numbers, of different
 *   sizes: `[[2], [2, 4, 5], [2]]` has `shapes` `[[1], [3], [1]]`.
 */
export interface Weights {
  readonly layout: 'vector' | 'layers';
  readonly shapes: readonly (readonly number[])[];
  readonly values: Float64Array;
}

/** What weights look like without their values: enough to check that two can be combined. */
export interface WeightsShape {
  readonly layout: 'vector' | 'layers';
  readonly shapes: readonly (readonly number[])[];
  /** Number of values in all. */
  readonly length: number;
}

/** Weights as JSON: numbers nested in lists. */
export type WeightsJson = number | WeightsJson[];

/** Number of values a shape holds. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/** True when both have the same layout and shapes, i.e. can be combined element-wise. */
export function sameShape(a: Pick<WeightsShape, 'layout' | 'shapes'>, b: Pick<WeightsShape, 'layout' | 'shapes'>): boolean {
  return (
    a.layout === b.layout &&
    a.shapes.length === b.shapes.length &&
    a.shapes.every((shape, i) => shape.length === b.shapes[i]!.length && shape.every((d, j) => d === b.shapes[i]![j]))
  );
}

/** A readable description of a shape, for error messages: `vector[3]` or `layers[1|3|1]`. */
export function describeShape(weights: Pick<WeightsShape, 'layout' | 'shapes'>): string {
  if (weights.layout === 'vector') return `vector[${weights.shapes[0]?.[0] ?? 0}]`;
  return `layers[${weights.shapes.map((s) => s.join('x')).join('|')}]`;
}

/**
 * Limits on weights sent as JSON, checked before any value is copied. Larger models are uploaded
 * as bytes (presigned URLs), where only the byte size is limited.
 *
 * - `maxValues`: numbers in all (a JSON body is at most 5 MiB, so about 2.6 M short numbers).
 * - `maxLayers`: entries of a list of layers (each costs a shape of its own).
 * - `maxDimensions`: dimensions of one layer (so the nesting depth is at most 1 + this).
 * - `maxMagnitude`: the largest |value|. With |x| ≤ 1e150, a sum of N updates weighted by
 *   `num_examples` (safe integers, < 2^53 ≈ 9e15) stays below N · 9e165, finite for any N a
 *   database can hold, so the aggregator can keep FMA's sum-then-divide (exact results for
 *   ordinary inputs) and finite inputs can never overflow it.
 */
export const WEIGHTS_LIMITS = {
  maxValues: 1_000_000,
  maxLayers: 10_000,
  maxDimensions: 8,
  maxMagnitude: 1e150,
} as const;

/**
 * Parses weights sent as JSON. Rejects anything but finite numbers within
 * `WEIGHTS_LIMITS.maxMagnitude` in rectangular lists, so NaN, Infinity, huge values, strings and
 * ragged layers never reach storage or an aggregator. Iterative (no recursion, so no nesting
 * depth can overflow the stack), and every count is checked against `WEIGHTS_LIMITS` before the
 * values are copied.
 *
 * @example parseWeights([[2], [2, 4, 5], [2]]).shapes // [[1], [3], [1]]
 */
export function parseWeights(json: unknown, field = 'weights'): Weights {
  if (!Array.isArray(json) || json.length === 0) {
    throw invalid(field, 'must be a non-empty list of numbers or a list of layers');
  }
  if (typeof json[0] === 'number') {
    if (json.length > WEIGHTS_LIMITS.maxValues) {
      throw invalid(field, `holds ${json.length} values, more than the limit of ${WEIGHTS_LIMITS.maxValues}`);
    }
    const values = new Float64Array(json.length);
    for (let i = 0; i < json.length; i += 1) {
      const item: unknown = json[i];
      if (typeof item !== 'number') {
        throw invalid(`${field}.${i}`, 'must be a number: weights are either all numbers or all layers (lists)');
      }
      values[i] = checkedValue(item, `${field}.${i}`);
    }
    return { layout: 'vector', shapes: [[json.length]], values };
  }
  if (json.length > WEIGHTS_LIMITS.maxLayers) {
    throw invalid(field, `holds ${json.length} layers, more than the limit of ${WEIGHTS_LIMITS.maxLayers}`);
  }
  // First every layer's shape and the total, then the values: nothing is copied before all fit.
  let total = 0;
  const shapes = json.map((layer: unknown, i) => {
    if (!Array.isArray(layer)) {
      throw invalid(`${field}.${i}`, 'must be a list: weights are either all numbers or all layers (lists)');
    }
    const shape = shapeOf(layer, `${field}.${i}`);
    total += shapeSize(shape);
    if (total > WEIGHTS_LIMITS.maxValues) {
      throw invalid(field, `holds more than the limit of ${WEIGHTS_LIMITS.maxValues} values`);
    }
    return shape;
  });
  const values = new Float64Array(total);
  let offset = 0;
  json.forEach((layer: unknown[], i) => {
    offset = flattenInto(layer, shapes[i]!, values, offset, `${field}.${i}`);
  });
  return { layout: 'layers', shapes, values };
}

/** Weights back as the JSON the caller sent. */
export function weightsToJson(weights: Weights): WeightsJson[] {
  if (weights.layout === 'vector') return Array.from(weights.values);
  let offset = 0;
  return weights.shapes.map((shape) => {
    const size = shapeSize(shape);
    const nested = nest(weights.values.subarray(offset, offset + size), shape);
    offset += size;
    return nested;
  });
}

/** The shape a layer declares by its first elements; at most `maxDimensions` deep. */
function shapeOf(value: unknown[], field: string): number[] {
  const shape = [value.length];
  let level: unknown = value[0];
  while (Array.isArray(level)) {
    if (shape.length === WEIGHTS_LIMITS.maxDimensions) {
      throw invalid(field, `has more than the limit of ${WEIGHTS_LIMITS.maxDimensions} dimensions (lists nested too deep)`);
    }
    shape.push(level.length);
    level = level[0];
  }
  if (shape.some((d) => d === 0) && shape.length > 1) throw invalid(field, 'must not contain empty inner lists');
  return shape;
}

/** Copies a rectangular layer of `shape` into `out` from `offset`, depth-first without recursion. */
function flattenInto(layer: unknown[], shape: readonly number[], out: Float64Array, offset: number, field: string): number {
  const lists: unknown[][] = [layer];
  const index: number[] = [0];
  const path = () => `${field}.${index.slice(0, lists.length).join('.')}`;
  let next = offset;
  while (lists.length > 0) {
    const depth = lists.length - 1;
    const list = lists[depth]!;
    const i = index[depth]!;
    if (i === list.length) {
      lists.pop();
      index.pop();
      if (depth > 0) index[depth - 1]! += 1;
      continue;
    }
    const item: unknown = list[i];
    if (depth === shape.length - 1) {
      if (typeof item !== 'number') throw invalid(path(), 'must be a number');
      out[next] = checkedValue(item, path());
      next += 1;
      index[depth] = i + 1;
    } else {
      if (!Array.isArray(item) || item.length !== shape[depth + 1]) {
        throw invalid(path(), `must be a rectangular list of shape [${shape.slice(depth + 1).join(', ')}]`);
      }
      lists.push(item);
      index.push(0);
    }
  }
  return next;
}

function nest(values: Float64Array, shape: readonly number[]): WeightsJson[] {
  if (shape.length === 1) return Array.from(values);
  const [outer, ...inner] = shape as [number, ...number[]];
  const stride = shapeSize(inner);
  return Array.from({ length: outer }, (_, i) => nest(values.subarray(i * stride, (i + 1) * stride), inner));
}

function checkedValue(value: number, field: string): number {
  if (!Number.isFinite(value)) throw invalid(field, 'must be a finite number (no NaN or Infinity)');
  if (Math.abs(value) > WEIGHTS_LIMITS.maxMagnitude) {
    throw invalid(field, `must be at most ${WEIGHTS_LIMITS.maxMagnitude} in magnitude (the limit that keeps aggregation from overflowing)`);
  }
  return value;
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}
