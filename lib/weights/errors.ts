import { AggregationError } from '../errors';

/**
 * Stored weights that cannot be used as their reference says: the object is gone, has another
 * size, is not the bytes it was stored with (its SHA-256), or holds a NaN or infinite value.
 * Carries the position of the reference in the streamed list and the object's key, which names
 * the update whatever list it was read from, so a run can set that one update aside and aggregate
 * the rest.
 */
export class UnreadableWeightsError extends AggregationError {
  static {
    this.prototype.name = 'UnreadableWeightsError';
  }
  constructor(
    message: string,
    readonly index: number,
    readonly key: string,
  ) {
    super(message);
  }
}

/** The position of the first NaN or infinite value, or -1 (`v - v` is NaN exactly for those). */
export function firstNonFinite(values: Float32Array | Float64Array): number {
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i]!;
    if (value - value !== 0) return i;
  }
  return -1;
}

/** Refuses values that are not all finite, naming the object: a run sets that update aside. */
export function assertFiniteWeights(values: Float32Array | Float64Array, key: string, index: number, offset = 0): void {
  const bad = firstNonFinite(values);
  if (bad !== -1) throw new UnreadableWeightsError(`Stored weights ${key} hold a NaN or infinite value at value ${offset + bad}`, index, key);
}
