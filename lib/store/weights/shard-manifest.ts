import { z } from 'zod';
import { AggregateStrategySchema, OptimizerStateRefSchema } from '../../entities/aggregate-strategy';
import { WeightsRefSchema } from '../../weights';

/**
 * A sharded run's plan as the shards read it (issue #14): written once to the object store by the
 * planning task, read by every shard and by the task that completes the aggregate. The state
 * machine carries only its key and K, so the state stays small whatever N and K are.
 *
 * Everything a shard needs to compute its range exactly as the single task would is here: the
 * updates in the order their values are combined (the order of the run's claim), each one's
 * factor and the divisor of the mean, x_t and the optimizer's previous state, and where the
 * parts go (one multipart upload for the aggregate; one for the optimizer's new state).
 */
export const ShardRangeSchema = z.object({ start: z.number().int().nonnegative(), end: z.number().int().positive() });

/** A multipart upload the shards write parts of: part k + 1 is shard k's range (the state: m parts, then v parts). */
export const ShardedUploadSchema = z.object({ key: z.string().min(1), uploadId: z.string().min(1) });

export const ShardManifestSchema = z.object({
  version: z.literal(1),
  model: z.number().int().positive(),
  run: z.string().min(1),
  parentAgg: z.number().int().positive().nullable(),
  /** The strategy as the model names it; each reader parses it again (parseStrategy). */
  aggregator: z.string(),
  aggregatorParams: z.record(z.string(), z.unknown()).nullable(),
  /** The shape of the aggregate (the updates'). */
  layout: z.enum(['vector', 'layers']),
  shapes: z.array(z.array(z.number().int().nonnegative())),
  length: z.number().int().positive(),
  updates: z.array(z.object({ id: z.number().int().positive(), weights: WeightsRefSchema })).min(1),
  /** The mean family: Σ factorᵢ · valuesᵢ / divisor (examples × staleness); null for the others. */
  factors: z.array(z.number()).nullable(),
  divisor: z.number().nullable(),
  /** x_t: the parent's (or the initial artifact's) weights, when the strategy steps from them. */
  base: WeightsRefSchema.nullable(),
  /** The state the optimizer resumes from (null: it starts from m = 0, v = τ²). */
  previousOptimizerState: OptimizerStateRefSchema.nullable(),
  shards: z.array(ShardRangeSchema).min(1),
  passes: z.union([z.literal(1), z.literal(2)]),
  aggregate: ShardedUploadSchema,
  /**
   * The optimizer's new state: a multipart upload when K > 1; with one shard, that shard writes
   * it in one PUT (its m part would be a non-last part under S3's 5 MiB minimum).
   */
  optimizerState: z.object({ key: z.string().min(1), uploadId: z.string().min(1).nullable() }).nullable(),
  /** What goes on the aggregate document; the completing task adds what the shards found. Null: a plain mean, recorded as the single task records it. */
  record: AggregateStrategySchema.nullable(),
});

export type ShardManifest = z.infer<typeof ShardManifestSchema>;
export type ShardRange = z.infer<typeof ShardRangeSchema>;

/**
 * What the reduce step of a two-pass strategy found from the shards' partial sums, for the second
 * Map and the aggregate's record: clipping's factor per update (min(1, C / ‖Δᵢ‖)), Krum's
 * selection (indices into the manifest's updates).
 */
export const ShardReductionSchema = z.object({
  clipFactors: z.array(z.number()).nullable(),
  clippedUpdates: z.number().int().nonnegative().nullable(),
  noiseStd: z.number().nullable(),
  selected: z.array(z.number().int().nonnegative()).nullable(),
});

export type ShardReduction = z.infer<typeof ShardReductionSchema>;

/** One item of the Map: what the ItemReader reads from the shard list, one per shard. */
export interface ShardItem {
  readonly shard: number;
}

/** Where a run's manifest and shard list live; derived from the run, so a failed run's can be found and cleaned up. */
export function shardManifestKeys(model: number, run: string): { manifest: string; shardList: string; reduction: string; measure: (shard: number) => string } {
  const prefix = `aggregation-runs/${model}/${run}`;
  return {
    manifest: `${prefix}/manifest.json`,
    shardList: `${prefix}/shards.json`,
    reduction: `${prefix}/reduction.json`,
    measure: (shard) => `${prefix}/measures/${shard}`,
  };
}
