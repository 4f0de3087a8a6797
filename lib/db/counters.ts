import type { Collection } from 'mongodb';
import type { CounterDocument } from './collections';
import { isDuplicateKeyError } from './driver-errors';

/**
 * Allocates `count` consecutive integer ids for `sequence` with one atomic `$inc` and returns the
 * first. Concurrent callers always get disjoint ranges.
 */
export async function allocateIds(counters: Collection<CounterDocument>, sequence: string, count = 1): Promise<number> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const counter = await counters.findOneAndUpdate(
        { _id: sequence },
        { $inc: { seq: count } },
        { upsert: true, returnDocument: 'after' },
      );
      if (counter === null) throw new Error(`counter ${sequence} was not returned`);
      return counter.seq - count + 1;
    } catch (error) {
      // Two first-ever upserts of one counter can race on its _id; the loser simply retries.
      if (attempt < 2 && isDuplicateKeyError(error)) continue;
      throw error;
    }
  }
}
