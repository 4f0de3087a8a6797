/**
 * Whether a round is aggregated in one task or in K shards, and where the shards' edges fall
 * (issue #14). Pure: it sees sizes and limits, never bytes or the database.
 *
 * A shard is a range of coordinates [start, end). Its part of the aggregate (float64) is one part
 * of an S3 multipart upload, so every shard but the last must hold at least
 * `minPartBytes / 8` values (S3 refuses smaller parts when the upload is completed, 5 MiB).
 *
 * One task suffices while its working set fits the function's memory and the bytes it must read
 * can be read within its time; past either limit the round is split into the fewest shards that
 * each fit both. Edges move to a layer edge when one is near (a shard then holds whole layers,
 * which is what a reader of a part expects), otherwise they split a layer: every strategy is
 * computed coordinate by coordinate, so a split layer changes no value.
 *
 * @example
 * planShards({ updates: 1_000, values: 100e6, readBytes: 400e9, maxUpdateBytes: 400e6, layerSizes: [100e6],
 *   strategy: { family: 'mean', twoPass: false, needsBase: false, optimizerMoments: 0 } }, DEFAULT_SHARD_LIMITS)
 * // → { mode: 'sharded', shards: 98 ranges of about 1.02M values, ... }
 */

import { getConfig, type Config } from '../config';
import { EXACT_SUM_WINDOWS, SUM_CHUNK_VALUES } from '../algorithms/exact-sum';

/** Coordinates per chunk of a global sum (clipping's norms, Krum's distances): shard edges of two-pass strategies are multiples of it. */
export { SUM_CHUNK_VALUES };

/** S3's smallest part (every part of a multipart upload but the last). */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's largest part number: the aggregate takes K parts, an optimizer's state 2K. */
export const S3_MAX_PARTS = 10_000;

export interface ShardLimits {
  /** `off`: always one task (the sharded path is never taken). */
  readonly sharding: 'auto' | 'off';
  /** Memory a task may fill with buffers (the function's memory less the runtime's share). */
  readonly taskMemoryBytes: number;
  /** Bytes the single task may read within its timeout. */
  readonly singleTaskMaxReadBytes: number;
  /** Bytes one shard may read within its timeout. */
  readonly shardMaxReadBytes: number;
  readonly maxShards: number;
  /** Smallest part of the multipart upload (S3: 5 MiB; a local test store may take less). */
  readonly minPartBytes: number;
  /** A fixed K (tests, operators): sharded even when one task would do, K = 1 included. */
  readonly fixedShards?: number;
}

export const DEFAULT_SHARD_LIMITS: ShardLimits = {
  sharding: 'auto',
  // Of the aggregation functions' 1,769 MB, about 1,200 MB for buffers.
  taskMemoryBytes: 1_200 * 1024 * 1024,
  singleTaskMaxReadBytes: 16 * 1024 ** 3,
  shardMaxReadBytes: 4 * 1024 ** 3,
  maxShards: 1_000,
  minPartBytes: S3_MIN_PART_BYTES,
};

/** What the plan needs to know of the strategy. */
export interface StrategyNeeds {
  readonly family: 'mean' | 'optimizer' | 'coordinate' | 'krum';
  /** Needs a global quantity first (clipping's norms, Krum's distances): two Maps and a reduce. */
  readonly twoPass: boolean;
  /** Reads the parent (x_t) too. */
  readonly needsBase: boolean;
  /** The server optimizer's moments per value (0, 1 for FedAvgM, 2 for the adaptive ones). */
  readonly optimizerMoments: number;
}

export interface ShardPlanInput {
  /** N: updates in the round. */
  readonly updates: number;
  /** P: values per update. */
  readonly values: number;
  /** Bytes of every update together (Σ byteSize: float32 and float64 may mix). */
  readonly readBytes: number;
  /** The largest update's bytes. */
  readonly maxUpdateBytes: number;
  /** Values per layer, in order (one entry for a flat vector). */
  readonly layerSizes: readonly number[];
  readonly strategy: StrategyNeeds;
}

export interface ShardRange {
  readonly start: number;
  readonly end: number;
}

export type ShardPlan =
  | { readonly mode: 'single'; readonly reason: string }
  | { readonly mode: 'sharded'; readonly passes: 1 | 2; readonly shards: readonly ShardRange[]; readonly reason: string };

/** Streamed reads in flight (lib/store/weights/weight-bytes.ts) and the block buffers of the coordinate-wise strategies. */
const READS_IN_FLIGHT = 4;
const BLOCK_BUFFER_BYTES = 256 * 1024 * 1024;

/**
 * Bytes a task holds to aggregate `length` coordinates: the float64 sum or result, the parent's
 * and the optimizer's values of the range, the new state, and the read buffers (a few whole
 * updates' ranges for the mean family; N columns of a block for the coordinate-wise ones, which
 * size their blocks to BLOCK_BUFFER_BYTES; Krum also N² distances).
 */
export function workingSetBytes(input: ShardPlanInput, length: number): number {
  const { strategy, updates } = input;
  const bytesPerValue = input.maxUpdateBytes / Math.max(1, input.values);
  const result = 8 * length;
  switch (strategy.family) {
    case 'coordinate':
      return result + Math.min(BLOCK_BUFFER_BYTES, updates * 8 * length);
    case 'krum':
      // The distances are exact sums (lib/algorithms/exact-sum.ts): EXACT_SUM_WINDOWS float64 counts per pair.
      return 2 * result + Math.min(BLOCK_BUFFER_BYTES, updates * 8 * length) + 8 * EXACT_SUM_WINDOWS * updates * updates + READS_IN_FLIGHT * bytesPerValue * length;
    case 'mean':
    case 'optimizer': {
      const base = strategy.needsBase ? 8 * length : 0;
      const moments = 2 * 8 * strategy.optimizerMoments * length;
      return 2 * result + base + moments + READS_IN_FLIGHT * bytesPerValue * length;
    }
  }
}

/** The plan for a round (see the module's comment). */
export function planShards(input: ShardPlanInput, limits: ShardLimits): ShardPlan {
  const { values } = input;
  if (limits.sharding === 'off' && limits.fixedShards === undefined) return { mode: 'single', reason: 'sharding is off' };
  const minPartValues = Math.ceil(limits.minPartBytes / 8);
  const partsPerShard = input.strategy.optimizerMoments > 0 ? 2 : 1;
  const largestK = Math.max(1, Math.min(limits.maxShards, Math.floor(S3_MAX_PARTS / partsPerShard), Math.floor(values / minPartValues)));
  let wanted: number;
  let reason: string;
  if (limits.fixedShards !== undefined) {
    wanted = limits.fixedShards;
    reason = `${wanted} shards asked for`;
  } else {
    const fitsMemory = workingSetBytes(input, values) <= limits.taskMemoryBytes;
    const fitsTime = input.readBytes <= limits.singleTaskMaxReadBytes;
    if (fitsMemory && fitsTime) return { mode: 'single', reason: 'one task holds the round within its memory and time' };
    wanted = 1;
    while (wanted < largestK && !shardFits(input, limits, Math.ceil(values / wanted))) wanted += 1;
    const needs = [
      ...(fitsMemory ? [] : [`${mib(workingSetBytes(input, values))} MiB of memory`]),
      ...(fitsTime ? [] : [`to read ${mib(input.readBytes)} MiB`]),
    ];
    const fits = shardFits(input, limits, Math.ceil(values / wanted));
    reason = `one task would need ${needs.join(' and ')}; ${wanted} shards ${fits ? 'each fit' : 'are the most allowed (each still over a limit)'}`;
  }
  const k = Math.max(1, Math.min(wanted, largestK));
  if (k < wanted) reason += `; ${k} shards at most: parts of at least ${mib(limits.minPartBytes)} MiB`;
  const grain = input.strategy.twoPass ? SUM_CHUNK_VALUES : 1;
  return { mode: 'sharded', passes: input.strategy.twoPass ? 2 : 1, shards: shardEdges(values, k, input.layerSizes, grain, minPartValues), reason };
}

function shardFits(input: ShardPlanInput, limits: ShardLimits, length: number): boolean {
  const read = (input.readBytes * length) / Math.max(1, input.values);
  return workingSetBytes(input, length) <= limits.taskMemoryBytes && read <= limits.shardMaxReadBytes;
}

function mib(bytes: number): number {
  return Math.round(bytes / (1024 * 1024));
}

/**
 * K ranges covering [0, values): equal sizes, each edge moved to a layer edge within a tenth of a
 * shard when that keeps every shard but the last at `minValues` or more; edges are multiples of
 * `grain` (two-pass strategies sum in chunks of SUM_CHUNK_VALUES that must not straddle shards).
 */
export function shardEdges(values: number, k: number, layerSizes: readonly number[], grain: number, minValues: number): ShardRange[] {
  const layerEdges: number[] = [];
  let offset = 0;
  for (const size of layerSizes.slice(0, -1)) {
    offset += size;
    layerEdges.push(offset);
  }
  const edges = [0];
  const ideal = values / k;
  for (let i = 1; i < k; i += 1) {
    const target = Math.round(i * ideal);
    let edge = Math.round(target / grain) * grain;
    const near = layerEdges.filter((layerEdge) => layerEdge % grain === 0 && Math.abs(layerEdge - target) <= ideal / 10);
    if (near.length > 0) edge = near.reduce((best, candidate) => (Math.abs(candidate - target) < Math.abs(best - target) ? candidate : best));
    const previous = edges.at(-1)!;
    // A shard below the part minimum (or empty) would make the upload fail: never place such an edge.
    if (edge - previous < Math.max(1, minValues) || values - edge < 1) continue;
    edges.push(edge);
  }
  edges.push(values);
  return edges.slice(0, -1).map((start, i) => ({ start, end: edges[i + 1]! }));
}

/**
 * The limits the shard plan applies, from the AGGREGATION_* settings that lib/config.ts reads (the
 * part minimum is S3's, not a setting).
 */
export function shardLimits(config: Config = getConfig()): ShardLimits {
  return {
    sharding: config.AGGREGATION_SHARDING,
    taskMemoryBytes: config.AGGREGATION_TASK_BUFFER_MB * 1024 * 1024,
    singleTaskMaxReadBytes: config.AGGREGATION_SINGLE_TASK_MAX_READ_MB * 1024 * 1024,
    shardMaxReadBytes: config.AGGREGATION_SHARD_MAX_READ_MB * 1024 * 1024,
    maxShards: config.AGGREGATION_MAX_SHARDS,
    minPartBytes: S3_MIN_PART_BYTES,
  };
}
