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

/**
 * Hands out ids of one sequence from blocks, each taken with one `$inc` by {@link allocateIds}, so
 * that most ids cost no database command. Blocks grow from 1 to `maxBlock` (doubling), so a
 * container that allocates k ids leaves fewer than k unused when it goes away.
 *
 * Ids from one instance increase; ids of several instances (containers) on one sequence are unique
 * but interleave, and ids left in a block when its instance goes away are never used (gaps).
 *
 * @example
 * const blocks = new IdBlocks('model_updates');
 * const first = await blocks.take(counters, 3); // first, first + 1, first + 2 are ours
 */
export class IdBlocks {
  private next = 0;
  private end = 0;
  private blockSize = 1;
  private refill: Promise<void> | undefined;

  constructor(
    private readonly sequence: string,
    private readonly maxBlock = 64,
  ) {}

  /** `count` consecutive ids; returns the first. */
  async take(counters: Collection<CounterDocument>, count = 1): Promise<number> {
    for (;;) {
      if (this.end - this.next >= count) {
        const first = this.next;
        this.next += count;
        return first;
      }
      // One refill at a time: callers that arrive meanwhile take from the block it brings.
      if (this.refill === undefined) {
        const size = Math.max(count, this.blockSize);
        this.blockSize = Math.min(this.blockSize * 2, this.maxBlock);
        this.refill = allocateIds(counters, this.sequence, size)
          .then((first) => {
            this.next = first;
            this.end = first + size;
          })
          .finally(() => {
            this.refill = undefined;
          });
      }
      await this.refill;
    }
  }
}
