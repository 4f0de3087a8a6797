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
 * Parses weights sent as JSON. Rejects anything but finite numbers in rectangular lists, so NaN,
 * Infinity, strings and ragged layers never reach storage or an aggregator.
 *
 * @example parseWeights([[2], [2, 4, 5], [2]]).shapes // [[1], [3], [1]]
 */
export function parseWeights(json: unknown, field = 'weights'): Weights {
  if (!Array.isArray(json) || json.length === 0) {
    throw invalid(field, 'must be a non-empty list of numbers or a list of layers');
  }
  const values: number[] = [];
  if (json.every((item) => typeof item === 'number')) {
    json.forEach((item, i) => values.push(finite(item, `${field}.${i}`)));
    return { layout: 'vector', shapes: [[json.length]], values: Float64Array.from(values) };
  }
  const shapes = json.map((layer, i) => {
    if (!Array.isArray(layer)) {
      throw invalid(`${field}.${i}`, 'must be a list: weights are either all numbers or all layers (lists)');
    }
    const shape = shapeOf(layer, `${field}.${i}`);
    flattenInto(layer, shape, 0, values, `${field}.${i}`);
    return shape;
  });
  return { layout: 'layers', shapes, values: Float64Array.from(values) };
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

function shapeOf(value: unknown[], field: string): number[] {
  const shape = [value.length];
  let level: unknown = value[0];
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  if (shape.some((d) => d === 0) && shape.length > 1) throw invalid(field, 'must not contain empty inner lists');
  return shape;
}

function flattenInto(value: unknown, shape: readonly number[], depth: number, out: number[], field: string): void {
  if (depth === shape.length) {
    if (typeof value !== 'number') throw invalid(field, 'must be a number');
    out.push(finite(value, field));
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[depth]) {
    throw invalid(field, `must be a rectangular list of shape [${shape.slice(depth).join(', ')}]`);
  }
  value.forEach((item, i) => flattenInto(item, shape, depth + 1, out, `${field}.${i}`));
}

function nest(values: Float64Array, shape: readonly number[]): WeightsJson[] {
  if (shape.length === 1) return Array.from(values);
  const [outer, ...inner] = shape as [number, ...number[]];
  const stride = shapeSize(inner);
  return Array.from({ length: outer }, (_, i) => nest(values.subarray(i * stride, (i + 1) * stride), inner));
}

function finite(value: number, field: string): number {
  if (!Number.isFinite(value)) throw invalid(field, 'must be a finite number (no NaN or Infinity)');
  return value;
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}
