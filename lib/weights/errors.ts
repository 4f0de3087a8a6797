import { AggregationError } from '../errors';

/**
 * Stored weights that can never be read as their reference says: the object is gone or has
 * another size. Carries the position of the reference in the streamed list, so a run can set that
 * one update aside and aggregate the rest.
 */
export class UnreadableWeightsError extends AggregationError {
  static {
    this.prototype.name = 'UnreadableWeightsError';
  }
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}
