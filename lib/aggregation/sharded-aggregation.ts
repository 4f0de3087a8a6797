import { accumulate, AggregationError, finish, getMeanAggregator } from '../algorithms';
import { EXACT_SUM_WINDOWS, ExactSums } from '../algorithms/exact-sum';
import {
  accumulateDelta,
  accumulateSquaredDistances,
  addDeltaSquares,
  assertStrategyCanCombine,
  clipFactor,
  coordinateMedianBlock,
  cryptoGaussian,
  exactDistances,
  krumScores,
  noiseStd,
  selectLowest,
  initialOptimizerState,
  parseStrategy,
  serverOptimizerStep,
  trimCount,
  trimmedMeanBlock,
  type MeanOptions,
  type OptimizerState,
  type Strategy,
} from '../algorithms/strategies';
import type { MetadataConnector } from '../connector';
import type { AggregateStrategy, ModelAggregate, ModelUpdate } from '../entities';
import { NotFoundError, ValidationError } from '../errors';
import { shapeSize } from '../weights';
import { unusableUpdates, withLeaseRenewal, type AggregationStep } from './aggregate-model-updates';
import { defaultBlockValues } from './block-size';
import { baseWeightsRef, isPlainMean, krumBlockValues, planMeanFactors, resumable, strategyRecordOf } from './combine-with-strategy';
import { planShards, type ShardLimits, type ShardPlanInput, type StrategyNeeds } from './shard-plan';
import { getObjectStore } from '../store';
import { findUnreadableWeights, pullShardManifest, pullShardMeasure, pullShardReduction, putFloat64Object, putShardManifest, putShardMeasure, putShardReduction, readOptimizerStateRange, readWeightsRange, type ShardManifest, type ShardRange, type ShardReduction, startShardedUploads, streamWeightBlocks, streamWeightRanges, uploadShardPart } from '../store/weights';

/**
 * Sharded aggregation (issue #14): one round split by coordinate ranges across a Step Functions
 * Map of shard Lambdas. The planning task decides (lib/aggregation/shard-plan.ts) and writes the
 * manifest; each shard computes its range exactly as the single task computes those coordinates
 * (same values, same order, same operations) and uploads it as one part of the aggregate's
 * multipart upload; the completing task joins the parts and records the aggregate. Nothing of a
 * run is visible until then, and a failed run's uploads are aborted.
 */

/** What the planning task tells the state machine: the mode and K, never the shard list. */
export interface RunPlan {
  readonly mode: 'single' | 'sharded';
  readonly shards: number;
  readonly passes: number;
  /** Where the manifest is (sharded runs): the key, and the shard list the Map's ItemReader reads. */
  readonly bucket: string | null;
  readonly manifest: string | null;
  readonly shardList: string | null;
  readonly modelUpdates: number;
  readonly invalid: number;
  readonly reason: string;
}

/** What the plan needs to know of a strategy. */
export function strategyNeeds(strategy: Strategy): StrategyNeeds {
  const clipped = (strategy.family === 'mean' || strategy.family === 'optimizer') && (strategy.params as MeanOptions).clip_norm !== undefined;
  return {
    family: strategy.family,
    twoPass: strategy.family === 'krum' || clipped,
    needsBase: strategy.family === 'optimizer' || clipped,
    optimizerMoments: strategy.family === 'optimizer' ? (strategy.name === 'fedavgm' ? 1 : 2) : 0,
  };
}

function planInput(updates: readonly ModelUpdate[], needs: StrategyNeeds): ShardPlanInput {
  const first = updates[0]!.weights;
  return {
    updates: updates.length,
    values: first.length,
    readBytes: updates.reduce((sum, update) => sum + update.weights.byteSize, 0),
    maxUpdateBytes: Math.max(...updates.map((update) => update.weights.byteSize)),
    layerSizes: first.shapes.map((dims) => shapeSize(dims)),
    strategy: needs,
  };
}

/**
 * The planning task: single task or K shards for the run's claimed updates. When sharded, it sets
 * aside (INVALID) the updates the single task would set aside (metadata it cannot use; bytes
 * missing or of the wrong size, found by HEAD), plans the mean's factors, x_t and the optimizer
 * state as the single task would, starts the multipart uploads and writes the manifest.
 */
export async function planRunAggregation(connector: MetadataConnector, step: AggregationStep, limits: ShardLimits): Promise<RunPlan> {
  const { model, run, parentAgg, leaseSeconds } = step;
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const strategy = parseStrategy(found.aggregator, found.aggregatorParams);
  const needs = strategyNeeds(strategy);
  return withLeaseRenewal(connector, model, run, leaseSeconds, async () => {
    let updates = await connector.pullModelUpdatesRegisteredForAggregation(model, { run });
    const single = (reason: string, invalid = 0): RunPlan => ({
      mode: 'single',
      shards: 1,
      passes: 1,
      bucket: null,
      manifest: null,
      shardList: null,
      modelUpdates: updates.length,
      invalid,
      reason,
    });
    if (updates.length === 0) return single('no updates: the single task reports it');
    const first = planShards(planInput(updates, needs), limits);
    if (first.mode === 'single') return single(first.reason);
    // A shard cannot set an update aside (the others would have counted it): the plan does, first.
    const aggregator = isPlainMean(strategy) ? getMeanAggregator(found.aggregator) : null;
    const bad = new Map(unusableUpdates(updates, aggregator, found).map(([update, reason]) => [update.id, reason]));
    const unreadable = await findUnreadableWeights(getObjectStore(), updates.map((update) => update.weights));
    for (const [index, reason] of unreadable) if (!bad.has(updates[index]!.id)) bad.set(updates[index]!.id, reason);
    let invalid = 0;
    for (const [id, reason] of bad) invalid += (await connector.invalidateRunUpdates(run, [id], reason)).invalid;
    updates = updates.filter((update) => !bad.has(update.id));
    if (updates.length === 0) throw new AggregationError('no update of this run can be aggregated (all were set aside as INVALID)');
    const plan = planShards(planInput(updates, needs), limits);
    if (plan.mode === 'single') return single(plan.reason, invalid);
    assertStrategyCanCombine(strategy, updates.length);
    const metadata = updates.map((update) => ({ shape: update.weights, numExamples: update.numExamples }));
    const { shape } = getMeanAggregator('avg_values_if_data').plan(metadata);
    const parent = parentAgg === null ? null : await connector.pullModelAggregate(parentAgg);
    const meanFamily = strategy.family === 'mean' || strategy.family === 'optimizer';
    const mean = meanFamily ? await planMeanFactors(connector, strategy, updates, parent, metadata) : null;
    const base = needs.needsBase ? await baseWeightsRef(connector, found, parent) : null;
    if (base !== null && base.length !== shape.length) throw new AggregationError(`the parent holds ${base.length} values, the updates ${shape.length}`);
    const previous = parent?.strategy?.optimizerState ?? null;
    const steps = strategy.family === 'optimizer' && base !== null;
    const uploads = await startShardedUploads(getObjectStore(), model, { optimizerState: steps, shards: plan.shards.length });
    const manifest: ShardManifest = {
      version: 1,
      model,
      run,
      parentAgg,
      aggregator: found.aggregator,
      aggregatorParams: found.aggregatorParams === null ? null : { ...found.aggregatorParams },
      layout: shape.layout,
      shapes: shape.shapes.map((dims) => [...dims]),
      length: shape.length,
      updates: updates.map((update) => ({ id: update.id, weights: { ...update.weights, shapes: update.weights.shapes.map((dims) => [...dims]) } })),
      factors: mean === null ? null : mean.factors,
      divisor: mean === null ? null : mean.divisor,
      base,
      previousOptimizerState: steps && resumable(previous, strategy.name, shape.length) ? previous : null,
      shards: [...plan.shards],
      passes: plan.passes,
      aggregate: uploads.aggregate,
      optimizerState: uploads.optimizerState,
      record: isPlainMean(strategy) ? null : strategyRecord(strategy, updates.length),
    };
    const keys = await putShardManifest(getObjectStore(), manifest);
    return {
      mode: 'sharded',
      shards: plan.shards.length,
      passes: plan.passes,
      bucket: keys.bucket,
      manifest: keys.manifest,
      shardList: keys.shardList,
      modelUpdates: updates.length,
      invalid,
      reason: plan.reason,
    };
  });
}

/** The aggregate's record before what the shards find (as combineWithStrategy starts it). */
function strategyRecord(strategy: Strategy, numUpdates: number): AggregateStrategy {
  const options = strategy.params as MeanOptions;
  const staleness = (strategy.family === 'mean' || strategy.family === 'optimizer') && options.staleness_exponent !== undefined ? options.staleness_exponent : null;
  return { ...strategyRecordOf(strategy, numUpdates), stalenessExponent: staleness };
}

async function requireManifest(model: number, run: string): Promise<ShardManifest> {
  const manifest = await pullShardManifest(getObjectStore(), model, run);
  if (manifest === null) throw new AggregationError(`run ${run} of federated model ${model} has no shard manifest`);
  return manifest;
}

/**
 * One shard: computes the aggregate's values [start, end) from ranged reads of every update, and
 * uploads them as part `shard + 1` (the optimizer's new moments as parts of the state's upload).
 * A retried shard uploads the same part again, which replaces it.
 */
export async function aggregateShard(
  connector: MetadataConnector,
  { model, run, shard, leaseSeconds }: { model: number; run: string; shard: number; leaseSeconds: number },
): Promise<{ shard: number; values: number }> {
  const manifest = await requireManifest(model, run);
  const range = manifest.shards[shard];
  if (range === undefined) throw new ValidationError(`shard ${shard} is not in the plan of run ${run} (${manifest.shards.length} shards)`);
  return withLeaseRenewal(connector, model, run, leaseSeconds, async () => {
    const reduction = manifest.passes === 2 ? await pullShardReduction(getObjectStore(), model, run) : null;
    const { values, state } = await computeShardRange(manifest, range, reduction);
    // The single task's post refuses these; a shard refuses its range the same way.
    if (!values.every(Number.isFinite)) throw new ValidationError('results must hold finite numbers only');
    await uploadShardPart(getObjectStore(), manifest.aggregate.key, manifest.aggregate.uploadId, shard + 1, values);
    if (state !== null && manifest.optimizerState !== null) {
      const moments = state.v === null ? [state.m] : [state.m, state.v];
      const { key, uploadId } = manifest.optimizerState;
      if (uploadId === null) {
        const joined = new Float64Array(values.length * moments.length);
        moments.forEach((moment, i) => joined.set(moment, i * values.length));
        await putFloat64Object(getObjectStore(), key, joined);
      } else {
        for (const [i, moment] of moments.entries()) await uploadShardPart(getObjectStore(), key, uploadId, i * manifest.shards.length + shard + 1, moment);
      }
    }
    return { shard, values: values.length };
  });
}

/**
 * The aggregate's values in `range`, as the single task computes them (combineWithStrategy and
 * the streamed mean): per coordinate, the same values in the same order through the same
 * operations, so each is equal bit for bit.
 */
export async function computeShardRange(
  manifest: ShardManifest,
  range: ShardRange,
  reduction: ShardReduction | null = null,
): Promise<{ values: Float64Array; state: OptimizerState | null }> {
  const strategy = parseStrategy(manifest.aggregator, manifest.aggregatorParams);
  const refs = manifest.updates.map((update) => update.weights);
  const length = range.end - range.start;
  switch (strategy.family) {
    case 'coordinate': {
      const n = refs.length;
      const values = new Float64Array(length);
      const scratch = new Float64Array(n);
      const trim = strategy.name === 'trimmed_mean' ? trimCount(n, strategy.params.beta) : 0;
      const block = strategy.params.block_size ?? defaultBlockValues(n);
      await streamWeightBlocks(
        getObjectStore(),
        refs,
        block,
        (start, blockLength, columns) => {
          if (strategy.name === 'coordinate_median') coordinateMedianBlock(columns, blockLength, values, start - range.start, scratch);
          else trimmedMeanBlock(columns, blockLength, trim, values, start - range.start, scratch);
        },
        range,
      );
      return { values, state: null };
    }
    case 'krum': {
      const chosen = requireReduction(reduction, 'selected').map((index) => refs[index]!);
      const sum = new Float64Array(length);
      await streamWeightRanges(getObjectStore(), chosen, range, (values) => accumulate(sum, values, 1));
      return { values: finish(sum, chosen.length), state: null };
    }
    case 'mean':
    case 'optimizer': {
      const factors = manifest.factors!;
      const parent = manifest.base === null ? null : await readWeightsRange(getObjectStore(), manifest.base, range.start, length);
      const sum = new Float64Array(length);
      let values: Float64Array;
      if (manifest.passes === 2) {
        // Clipping (combineMeans): Σ factorᵢ·clipᵢ·(xᵢ − x_t) / divisor, noise, then x_t + that for the mean family.
        const clips = requireReduction(reduction, 'clipFactors');
        await streamWeightRanges(getObjectStore(), refs, range, (update, i) => accumulateDelta(sum, update, parent, factors[i]! * clips[i]!));
        const meanDelta = finish(sum, manifest.divisor!);
        if (reduction!.noiseStd !== null) cryptoGaussian.addNoise(meanDelta, reduction!.noiseStd);
        values = meanDelta;
        if (parent !== null && strategy.family === 'mean') values = meanDelta.map((delta, j) => parent[j]! + delta);
      } else {
        await streamWeightRanges(getObjectStore(), refs, range, (update, i) => accumulate(sum, update, factors[i]!));
        values = finish(sum, manifest.divisor!);
        if (parent !== null) values = values.map((mean, j) => mean - parent[j]!);
      }
      if (strategy.family !== 'optimizer' || parent === null) return { values, state: null };
      const state =
        manifest.previousOptimizerState === null
          ? initialOptimizerState(strategy.name, strategy.params, length)
          : await readOptimizerStateRange(getObjectStore(), manifest.previousOptimizerState, range.start, length);
      return { values: serverOptimizerStep(strategy.name, strategy.params, parent, values, state), state };
    }
  }
}

function requireReduction<K extends 'selected' | 'clipFactors'>(reduction: ShardReduction | null, field: K): NonNullable<ShardReduction[K]> {
  const value = reduction?.[field];
  if (value === null || value === undefined) throw new AggregationError(`the second pass needs the reduction's ${field}`);
  return value as NonNullable<ShardReduction[K]>;
}

/** Exact sums per update (clipping's squared norms) or per pair (Krum's squared distances). */
function measureCount(manifest: ShardManifest, strategy: Strategy): number {
  const n = manifest.updates.length;
  return strategy.family === 'krum' ? n * n : n;
}

/**
 * First pass of a two-pass strategy, for one shard: the exact partial sums over its range
 * (clipping: ‖Δᵢ‖² per update; Krum: the squared distance of each pair), stored beside the
 * manifest. Exact, so the reduce step gets the single task's sums whatever K is.
 */
export async function measureShard(
  connector: MetadataConnector,
  { model, run, shard, leaseSeconds }: { model: number; run: string; shard: number; leaseSeconds: number },
): Promise<{ shard: number; sums: number }> {
  const manifest = await requireManifest(model, run);
  const range = manifest.shards[shard];
  if (range === undefined) throw new ValidationError(`shard ${shard} is not in the plan of run ${run} (${manifest.shards.length} shards)`);
  const strategy = parseStrategy(manifest.aggregator, manifest.aggregatorParams);
  const refs = manifest.updates.map((update) => update.weights);
  return withLeaseRenewal(connector, model, run, leaseSeconds, async () => {
    const sums = new ExactSums(measureCount(manifest, strategy));
    if (strategy.family === 'krum') {
      const block = krumBlockValues(strategy.params.block_size ?? defaultBlockValues(refs.length));
      await streamWeightBlocks(getObjectStore(), refs, block, (_start, length, columns) => accumulateSquaredDistances(columns, length, sums), range);
    } else {
      const base = manifest.base === null ? null : await readWeightsRange(getObjectStore(), manifest.base, range.start, range.end - range.start);
      await streamWeightRanges(getObjectStore(), refs, range, (values, i) => addDeltaSquares(values, base, sums, i));
    }
    sums.normalize();
    await putShardMeasure(getObjectStore(), model, run, shard, sums.windows);
    return { shard, sums: sums.count };
  });
}

/**
 * The reduce step between the two Maps: merges the shards' exact partial sums and derives what
 * the second Map applies, as the single task does: the clip factor of each update (and the DP
 * noise's σ), or Krum's selection.
 */
export async function reduceShardMeasures(
  connector: MetadataConnector,
  { model, run, leaseSeconds }: { model: number; run: string; leaseSeconds: number },
): Promise<{ clippedUpdates: number | null; selected: number | null }> {
  const manifest = await requireManifest(model, run);
  const strategy = parseStrategy(manifest.aggregator, manifest.aggregatorParams);
  const count = measureCount(manifest, strategy);
  return withLeaseRenewal(connector, model, run, leaseSeconds, async () => {
    const total = new ExactSums(count);
    for (let shard = 0; shard < manifest.shards.length; shard += 1) {
      total.merge(new ExactSums(count, await pullShardMeasure(getObjectStore(), model, run, shard, count * EXACT_SUM_WINDOWS)));
    }
    const n = manifest.updates.length;
    let reduction: ShardReduction;
    if (strategy.family === 'krum') {
      const selected = selectLowest(krumScores(exactDistances(total, n), n, strategy.params.f), strategy.params.m);
      reduction = { clipFactors: null, clippedUpdates: null, noiseStd: null, selected };
    } else {
      const options = strategy.params as MeanOptions;
      const clipNorm = options.clip_norm!;
      const clipFactors = Array.from({ length: n }, (_, i) => clipFactor(Math.sqrt(total.value(i)), clipNorm));
      reduction = {
        clipFactors,
        clippedUpdates: clipFactors.filter((factor) => factor < 1).length,
        noiseStd: options.noise_multiplier === undefined ? null : noiseStd(options.noise_multiplier, clipNorm, n),
        selected: null,
      };
    }
    await putShardReduction(getObjectStore(), model, run, reduction);
    return { clippedUpdates: reduction.clippedUpdates, selected: reduction.selected?.length ?? null };
  });
}

/**
 * The completing task: joins the parts into the aggregate object (and the optimizer's state),
 * renews the lease right before it records the aggregate (a run that lost its lease cannot fork
 * the chain), and records it for the run. CompleteRun then completes the updates as after the
 * single task.
 */
export async function completeShardedRun(
  connector: MetadataConnector,
  { model, run, leaseSeconds }: { model: number; run: string; leaseSeconds: number },
): Promise<{ aggregate: ModelAggregate; modelUpdates: number }> {
  const manifest = await requireManifest(model, run);
  let record = manifest.record;
  if (manifest.passes === 2 && record !== null) {
    // What the single task records once it has the norms or the distances (combineWithStrategy).
    const reduction = await pullShardReduction(getObjectStore(), model, run);
    if (reduction.selected !== null) record = { ...record, selectedUpdates: reduction.selected.map((index) => manifest.updates[index]!.id) };
    if (reduction.clipFactors !== null) {
      const options = parseStrategy(manifest.aggregator, manifest.aggregatorParams).params as MeanOptions;
      record = { ...record, clipNorm: options.clip_norm!, clippedUpdates: reduction.clippedUpdates };
      if (options.noise_multiplier !== undefined) record = { ...record, noiseMultiplier: options.noise_multiplier, noiseStd: reduction.noiseStd };
    }
  }
  const aggregate = await withLeaseRenewal(connector, model, run, leaseSeconds, () =>
    connector.completeShardedAggregate(manifest, record, async () => {
      await connector.renewAggregationLease(model, run, leaseSeconds);
    }),
  );
  return { aggregate, modelUpdates: manifest.updates.length };
}

/** After a failed sharded run: its uploads are aborted, so no part of it ever becomes visible. */
export async function discardShardedRun(connector: MetadataConnector, { model, run }: { model: number; run: string }): Promise<{ aborted: number }> {
  return connector.abortShardedUploads(model, run);
}
