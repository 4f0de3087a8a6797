import { IdBlocks } from '../../db/counters';
import type { ConnectorContext } from './context';

// Ids of the documents every client writes each round (updates, scores) come from a block per
// container and sequence (IdBlocks: one `$inc` per block, blocks growing to 64), not from one
// `$inc` each: at the end of a round that `$inc` was a write per submission, and on FerretDB the one
// that waits for its turn (README: Which database). Ids stay unique and increase within a
// container; across containers they interleave, and a container that goes away leaves the rest of
// its block unused (gaps, fewer than the ids it handed out).

const blocks = new WeakMap<ConnectorContext, Map<string, IdBlocks>>();

/** `count` consecutive ids of `sequence`; returns the first. */
export async function takeIds(context: ConnectorContext, sequence: string, count = 1): Promise<number> {
  let bySequence = blocks.get(context);
  if (bySequence === undefined) {
    bySequence = new Map();
    blocks.set(context, bySequence);
  }
  let block = bySequence.get(sequence);
  if (block === undefined) {
    block = new IdBlocks(sequence);
    bySequence.set(sequence, block);
  }
  const { counters } = await context.collections();
  return block.take(counters, count);
}
