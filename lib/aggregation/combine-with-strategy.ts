import { accumulate, AggregationError, finish, getMeanAggregator, type MeanPlan, type UpdateMetadata } from '../algorithms';
import {
  accumulateDelta,
  accumulateSquaredDistances,
  assertStrategyCanCombine,
  clipFactor,
  coordinateMedianBlock,
  cryptoGaussian,
  deltaNormExact,
  exactDistances,
  initialOptimizerState,
  krumScores,
  noiseStd,
  selectLowest,
  serverOptimizerStep,
  stalenessOf,
  stalenessWeight,
  trimCount,
  trimmedMeanBlock,
  type GaussianSource,
  type MeanOptions,
  type Strategy,
} from '../algorithms/strategies';
import { ExactSums, SUM_CHUNK_VALUES } from '../algorithms/exact-sum';
import type { MetadataConnector } from '../connector';
import type { AggregateStrategy, FederatedModel, ModelAggregate, ModelUpdate, OptimizerStateRef } from '../entities';
import type { WeightsRef, WeightsShape } from '../weights';
import { defaultBlockValues } from './block-size';
import { getObjectStore } from '../store';
import { putOptimizerState, readOptimizerState, readWeights, streamWeightBlocks, streamWeights } from '../store/weights';

export interface StrategyRun {
  readonly model: FederatedModel;
  readonly strategy: Strategy;
  /** The run's claimed updates, in the order their values are combined. */
  readonly updates: readonly ModelUpdate[];
  /** The aggregate the new one will be a child of (x_t), or null for the model's first. */
  readonly parent: ModelAggregate | null;
  /** Where central-DP noise comes from: the crypto source, unless a test passes a seeded one. */
  readonly noise?: GaussianSource;
}

export interface StrategyResult {
  readonly shape: WeightsShape;
  readonly values: Float64Array;
  /** What goes on the aggregate document (and the optimizer state it refers to, already stored). */
  readonly record: AggregateStrategy;
}

/** The aggregate's record of a strategy's run over `numUpdates` updates, before what the strategy adds. */
export function strategyRecordOf(strategy: Strategy, numUpdates: number): AggregateStrategy {
  return {
    aggregator: strategy.name,
    params: { ...strategy.params } as Record<string, unknown>,
    numUpdates,
    selectedUpdates: null,
    clipNorm: null,
    clippedUpdates: null,
    noiseMultiplier: null,
    noiseStd: null,
    stalenessExponent: null,
    optimizerState: null,
  };
}

/** Whether a strategy is the plain mean the streamed path of `aggregateModelUpdates` computes. */
export function isPlainMean(strategy: Strategy): boolean {
  return strategy.family === 'mean' && Object.keys(strategy.params).length === 0;
}

/**
 * Combines a run's updates with a strategy beyond the plain mean (issue #11). Checks everything it
 * can from metadata first (shapes, example counts, n against Krum's f), so a bad round fails
 * before any byte is read. Writes nothing but a server optimizer's new state, under a fresh key:
 * the caller writes the aggregate, and a run that fails leaves the parent's state as it was.
 *
 * Memory and time, for N updates of P values and blocks of B coordinates:
 * - median, trimmed mean: N × B × 8 bytes of buffers + the result; O(N log N × P) time.
 * - Krum, Multi-Krum: N × B × 8 + N² × 8 for the distances, then the mean of the m selected
 *   (streamed like the plain mean); O(N² × P) time.
 * - the mean family with staleness, clipping, noise or a server optimizer: the streamed mean's
 *   memory (a few updates at a time) + the parent's weights + the optimizer's moments (1 or 2 × P).
 */
export async function combineWithStrategy(connector: MetadataConnector, run: StrategyRun): Promise<StrategyResult> {
  const { strategy, updates } = run;
  const metadata: UpdateMetadata[] = updates.map((update) => ({ shape: update.weights, numExamples: update.numExamples }));
  assertStrategyCanCombine(strategy, updates.length);
  const base = strategyRecordOf(strategy, updates.length);
  switch (strategy.family) {
    case 'coordinate': {
      const { shape } = getMeanAggregator('avg_values_if_data').plan(metadata);
      const n = updates.length;
      const values = new Float64Array(shape.length);
      const scratch = new Float64Array(n);
      const trim = strategy.name === 'trimmed_mean' ? trimCount(n, strategy.params.beta) : 0;
      const block = strategy.params.block_size ?? defaultBlockValues(n);
      await streamWeightBlocks(getObjectStore(), updates.map((update) => update.weights), block, (start, length, columns) => {
        if (strategy.name === 'coordinate_median') coordinateMedianBlock(columns, length, values, start, scratch);
        else trimmedMeanBlock(columns, length, trim, values, start, scratch);
      });
      return { shape, values, record: base };
    }
    case 'krum': {
      const { shape } = getMeanAggregator('avg_values_if_data').plan(metadata);
      const n = updates.length;
      // Exact sums of tiles that never straddle a block: a sharded run gets the same distances (issue #14).
      const distances = new ExactSums(n * n);
      const block = krumBlockValues(strategy.params.block_size ?? defaultBlockValues(n));
      await streamWeightBlocks(getObjectStore(), updates.map((update) => update.weights), block, (_start, length, columns) =>
        accumulateSquaredDistances(columns, length, distances),
      );
      const selected = selectLowest(krumScores(exactDistances(distances, n), n, strategy.params.f), strategy.params.m);
      const chosen = selected.map((index) => updates[index]!);
      const sum = new Float64Array(shape.length);
      await streamWeights(getObjectStore(), chosen.map((update) => update.weights), (values) => accumulate(sum, values, 1));
      return { shape, values: finish(sum, chosen.length), record: { ...base, selectedUpdates: chosen.map((update) => update.id) } };
    }
    case 'mean':
    case 'optimizer':
      return combineMeans(connector, run, metadata, base);
  }
}

/** The mean family: weights (examples × staleness), clipping and noise, then a server optimizer's step. */
async function combineMeans(
  connector: MetadataConnector,
  { model, strategy, updates, parent, noise = cryptoGaussian }: StrategyRun,
  metadata: UpdateMetadata[],
  record: AggregateStrategy,
): Promise<StrategyResult> {
  const options = strategy.params as MeanOptions;
  const { plan, factors, divisor } = await planMeanFactors(connector, strategy, updates, parent, metadata);
  if (options.staleness_exponent !== undefined) record = { ...record, stalenessExponent: options.staleness_exponent };
  const needsBase = strategy.family === 'optimizer' || options.clip_norm !== undefined;
  const parentValues = needsBase ? await baseWeights(connector, model, parent) : null;
  if (parentValues !== null && parentValues.length !== plan.shape.length) {
    throw new AggregationError(`the parent holds ${parentValues.length} values, the updates ${plan.shape.length}`);
  }
  const sum = new Float64Array(plan.shape.length);
  let values: Float64Array;
  if (options.clip_norm !== undefined) {
    const clipNorm = options.clip_norm;
    let clipped = 0;
    await streamWeights(getObjectStore(), updates.map((update) => update.weights), (update, i) => {
      // Exact across chunks: a sharded run's norms, merged from its shards, are the same (issue #14).
      const factor = clipFactor(deltaNormExact(update, parentValues), clipNorm);
      if (factor < 1) clipped += 1;
      accumulateDelta(sum, update, parentValues, factors[i]! * factor);
    });
    const meanDelta = finish(sum, divisor);
    record = { ...record, clipNorm, clippedUpdates: clipped };
    if (options.noise_multiplier !== undefined) {
      const std = noiseStd(options.noise_multiplier, clipNorm, updates.length);
      noise.addNoise(meanDelta, std);
      record = { ...record, noiseMultiplier: options.noise_multiplier, noiseStd: std };
    }
    values = meanDelta;
    if (parentValues !== null && strategy.family === 'mean') values = meanDelta.map((delta, j) => parentValues[j]! + delta);
  } else {
    await streamWeights(getObjectStore(), updates.map((update) => update.weights), (update, i) => accumulate(sum, update, factors[i]!));
    values = finish(sum, divisor);
    if (parentValues !== null) values = values.map((mean, j) => mean - parentValues[j]!);
  }
  if (strategy.family !== 'optimizer') return { shape: plan.shape, values, record };
  // `values` is the pseudo-gradient Δ here, unless there is no x_t to step from: then the mean
  // (of the clipped updates) is the first model, and the optimizer starts with the next round.
  if (parentValues === null) return { shape: plan.shape, values, record };
  const { next, optimizerState } = await stepServerOptimizer(model, strategy, parent, parentValues, values);
  return { shape: plan.shape, values: next, record: { ...record, optimizerState } };
}

/**
 * A server optimizer's step from x_t (`parentValues`) along the pseudo-gradient Δ, resuming the
 * parent's optimizer state when it has one of this optimizer; the new state is stored under a
 * fresh key. Shared by the plain runs and the secure ones (Δ from the unmasked mean).
 */
export async function stepServerOptimizer(
  model: FederatedModel,
  strategy: Extract<Strategy, { family: 'optimizer' }>,
  parent: ModelAggregate | null,
  parentValues: Float64Array,
  delta: Float64Array,
): Promise<{ next: Float64Array; optimizerState: OptimizerStateRef }> {
  const previous = parent?.strategy?.optimizerState ?? null;
  const state = resumable(previous, strategy.name, delta.length)
    ? await readOptimizerState(getObjectStore(), previous!)
    : initialOptimizerState(strategy.name, strategy.params, delta.length);
  const next = serverOptimizerStep(strategy.name, strategy.params, parentValues, delta, state);
  const optimizerState = await putOptimizerState(getObjectStore(), model.id, strategy.name, state);
  return { next, optimizerState };
}

/**
 * The mean family's factors and divisor: examples (FedAvg) × staleness weights; the optimizers
 * average unweighted (Reddi et al. average the clients' deltas). Shared with the sharded path,
 * whose shards must use the very same numbers.
 */
export async function planMeanFactors(
  connector: MetadataConnector,
  strategy: Strategy,
  updates: readonly ModelUpdate[],
  parent: ModelAggregate | null,
  metadata: readonly UpdateMetadata[],
): Promise<{ plan: MeanPlan; factors: number[]; divisor: number }> {
  const options = strategy.params as MeanOptions;
  const plan = getMeanAggregator(strategy.family === 'mean' ? strategy.name : 'avg_values_if_data').plan(metadata);
  const factors = [...plan.factors];
  let divisor = plan.divisor;
  if (options.staleness_exponent !== undefined) {
    const levels = await baseLevels(connector, updates);
    updates.forEach((update, i) => {
      const tau = stalenessOf(parent?.level ?? null, update.baseAggregate === null ? null : levels.get(update.baseAggregate) ?? null);
      factors[i] = factors[i]! * stalenessWeight(tau, options.staleness_exponent!);
    });
    divisor = factors.reduce((sum, factor) => sum + factor, 0);
  }
  return { plan, factors, divisor };
}

/** Krum's block rounded down to whole distance tiles (at least one), so no tile straddles two blocks. */
export function krumBlockValues(block: number): number {
  return Math.max(SUM_CHUNK_VALUES, Math.floor(block / SUM_CHUNK_VALUES) * SUM_CHUNK_VALUES);
}

/** The parent's state carries over when the same optimizer wrote it for a model of this size. */
export function resumable(previous: OptimizerStateRef | null, optimizer: string, length: number): boolean {
  return previous !== null && previous.optimizer === optimizer && previous.length === length;
}

/**
 * x_t: the parent aggregate's weights, else (the model's first aggregate) its current artifact's
 * (the `initial_model`), else null.
 */
export async function baseWeights(connector: MetadataConnector, model: FederatedModel, parent: ModelAggregate | null): Promise<Float64Array | null> {
  const ref = await baseWeightsRef(connector, model, parent);
  return ref === null ? null : (await readWeights(getObjectStore(), ref)).values;
}

/** Where x_t's weights are (see baseWeights), without reading them. */
export async function baseWeightsRef(connector: MetadataConnector, model: FederatedModel, parent: ModelAggregate | null): Promise<WeightsRef | null> {
  if (parent !== null) return parent.weights;
  if (model.currentArtifact === null) return null;
  const artifact = await connector.pullModelArtifactRecord(model.currentArtifact);
  return artifact === null ? null : artifact.weights;
}

/** The levels of the aggregates the updates trained from. */
async function baseLevels(connector: MetadataConnector, updates: readonly ModelUpdate[]): Promise<Map<number, number>> {
  const ids = [...new Set(updates.flatMap((update) => (update.baseAggregate === null ? [] : [update.baseAggregate])))];
  const found = await Promise.all(ids.map((id) => connector.pullModelAggregate(id)));
  return new Map(found.flatMap((aggregate) => (aggregate === null ? [] : [[aggregate.id, aggregate.level] as const])));
}
