import { z } from 'zod';
import { validationErrorFromZod } from '../../errors/from-zod';
import { AGGREGATOR_NAMES, AggregationError } from '../aggregators';

/**
 * The aggregation strategies a model can be created with, and the parameters each takes
 * (`aggregator` names the strategy, `aggregator_params` holds its parameters: snake_case keys,
 * stored as JSON text like `requirement_args`).
 *
 * Parameters a strategy needs have no default: leaving one out is a 400 that names it, so that
 * nothing is silently substituted. Only `block_size` (a memory/speed knob that changes no result)
 * has a default, chosen per run (see `defaultBlockValues`).
 */

/** Server-side options of the weighted-mean family: staleness weighting, clipping, central DP. */
const meanOptions = {
  /** FedAsync/FedBuff: an update τ rounds behind the parent weighs (1 + τ)^−a. */
  staleness_exponent: z.number().finite().nonnegative().max(16).optional(),
  /** DP-FedAvg: each update's delta from the parent is clipped to this L2 norm. */
  clip_norm: z.number().finite().positive().optional(),
  /** DP-FedAvg: Gaussian noise of σ = noise_multiplier × clip_norm / n is added to the mean delta. */
  noise_multiplier: z.number().finite().nonnegative().max(1e6).optional(),
};

const blockSize = { block_size: z.number().int('block_size must be a whole number of values').positive().max(1 << 24).optional() };
const unit = (name: string) =>
  z.number().finite().min(0, `${name} must be in [0, 1)`).lt(1, `${name} must be in [0, 1)`);
const serverLr = z.number().finite().positive('server_lr must be > 0');
const tau = z.number().finite().positive('tau must be > 0');

const MeanParams = z.strictObject(meanOptions);
const CoordinateMedianParams = z.strictObject(blockSize);
const TrimmedMeanParams = z.strictObject({
  beta: z.number().finite().min(0, 'beta must be in [0, 0.5)').lt(0.5, 'beta must be in [0, 0.5)'),
  ...blockSize,
});
const byzantine = z.number().int('f must be an integer ≥ 0').nonnegative('f must be an integer ≥ 0');
const KrumParams = z.strictObject({ f: byzantine, ...blockSize });
const MultiKrumParams = z.strictObject({
  f: byzantine,
  m: z.number().int('m must be an integer ≥ 1').positive('m must be an integer ≥ 1'),
  ...blockSize,
});
const FedAvgMParams = z.strictObject({ server_lr: serverLr, momentum: unit('momentum'), ...meanOptions });
const FedAdamParams = z.strictObject({ server_lr: serverLr, beta1: unit('beta1'), beta2: unit('beta2'), tau, ...meanOptions });
const FedAdagradParams = z.strictObject({ server_lr: serverLr, beta1: unit('beta1'), tau, ...meanOptions });

export type MeanOptions = z.infer<typeof MeanParams>;
export type TrimmedMeanOptions = z.infer<typeof TrimmedMeanParams>;
export type MultiKrumOptions = z.infer<typeof MultiKrumParams>;
export type ServerOptimizerName = 'fedavgm' | 'fedadam' | 'fedyogi' | 'fedadagrad';

/** Reddi et al. (2021), Algorithm 2, and FedAvgM (Hsu et al. 2019): the server's step on the pseudo-gradient. */
export interface ServerOptimizerOptions extends MeanOptions {
  readonly server_lr: number;
  /** FedAvgM only. */
  readonly momentum?: number;
  readonly beta1?: number;
  /** FedAdam and FedYogi only. */
  readonly beta2?: number;
  readonly tau?: number;
}

/** A model's aggregation strategy, parsed: what a run does, decided from the model alone. */
export type Strategy =
  | { readonly family: 'mean'; readonly name: string; readonly params: MeanOptions }
  | { readonly family: 'optimizer'; readonly name: ServerOptimizerName; readonly params: ServerOptimizerOptions }
  | { readonly family: 'coordinate'; readonly name: 'coordinate_median'; readonly params: { block_size?: number } }
  | { readonly family: 'coordinate'; readonly name: 'trimmed_mean'; readonly params: TrimmedMeanOptions }
  | { readonly family: 'krum'; readonly name: 'krum' | 'multi_krum'; readonly params: MultiKrumOptions };

const SCHEMAS = {
  avg_values_if_data: MeanParams,
  average_layers: MeanParams,
  weighted_fedavg: MeanParams,
  coordinate_median: CoordinateMedianParams,
  trimmed_mean: TrimmedMeanParams,
  krum: KrumParams,
  multi_krum: MultiKrumParams,
  fedavgm: FedAvgMParams,
  fedadam: FedAdamParams,
  fedyogi: FedAdamParams,
  fedadagrad: FedAdagradParams,
} as const satisfies Record<string, z.ZodType>;

/** Every name a model's `aggregator` may hold: FMA's, weighted FedAvg, and the strategies of issue #11. */
export const STRATEGY_NAMES = Object.keys(SCHEMAS);

/**
 * An unknown strategy, bad parameters, or too few updates for them: 400 at creation, fatal for a
 * run (before its claim). An AggregationError, as an unknown aggregator always was.
 */
export class StrategyError extends AggregationError {
  static {
    this.prototype.name = 'StrategyError';
  }
}

/**
 * Parses a strategy name and its parameters (null or absent: none given). Throws StrategyError
 * (400) naming `aggregator` or `aggregator_params`.
 *
 * @example
 * parseStrategy('trimmed_mean', { beta: 0.1 })   // { family: 'coordinate', name: 'trimmed_mean', params: { beta: 0.1 } }
 * parseStrategy('trimmed_mean', { beta: 0.5 })   // StrategyError: aggregator_params.beta: beta must be in [0, 0.5)
 */
export function parseStrategy(name: string, params: Readonly<Record<string, unknown>> | null | undefined): Strategy {
  if (!Object.hasOwn(SCHEMAS, name)) {
    const known = STRATEGY_NAMES.join(', ');
    throw new StrategyError(`Unknown aggregator "${name}"; known aggregators: ${known}`, {
      details: [{ field: 'aggregator', message: `must be one of ${known}` }],
    });
  }
  const parsed = SCHEMAS[name as keyof typeof SCHEMAS].safeParse(params ?? {});
  if (!parsed.success) {
    const error = validationErrorFromZod(parsed.error, `aggregator_params of ${name}`);
    throw new StrategyError(error.message, {
      details: (error.details ?? []).map((detail) => ({ ...detail, field: prefixed(detail.field) })),
    });
  }
  const options = parsed.data as Record<string, unknown>;
  if (options.noise_multiplier !== undefined && options.clip_norm === undefined) {
    throw paramError(name, 'noise_multiplier', 'needs clip_norm: the noise is scaled to the clipping bound');
  }
  if (options.noise_multiplier !== undefined && name === 'weighted_fedavg') {
    // σ = z·C/n bounds one client's influence on an unweighted mean only; a weighted mean lets one
    // client with many examples move it further than C/n.
    throw paramError(name, 'noise_multiplier', 'needs an unweighted mean (avg_values_if_data, average_layers or a server optimizer)');
  }
  if (AGGREGATOR_NAMES.includes(name)) return { family: 'mean', name, params: options as MeanOptions };
  switch (name) {
    case 'coordinate_median':
      return { family: 'coordinate', name, params: options };
    case 'trimmed_mean':
      return { family: 'coordinate', name, params: options as TrimmedMeanOptions };
    case 'krum':
      return { family: 'krum', name, params: { ...(options as { f: number }), m: 1 } };
    case 'multi_krum':
      return { family: 'krum', name, params: options as MultiKrumOptions };
    default:
      return { family: 'optimizer', name: name as ServerOptimizerName, params: options as unknown as ServerOptimizerOptions };
  }
}

function prefixed(field: string | undefined): string {
  if (field === undefined || field === '' || field === 'aggregator_params') return 'aggregator_params';
  return field.startsWith('aggregator_params') ? field : `aggregator_params.${field}`;
}

function paramError(name: string, key: string, message: string): StrategyError {
  return new StrategyError(`aggregator_params of ${name}: ${key} ${message}`, {
    details: [{ field: `aggregator_params.${key}`, message }],
  });
}

/** The fewest updates a strategy can combine: Krum needs n ≥ 2f + 3 (Blanchard et al.), Multi-Krum also n ≥ m + f. */
export function minimumUpdates(strategy: Strategy): number {
  if (strategy.family !== 'krum') return 1;
  const { f, m } = strategy.params;
  return Math.max(2 * f + 3, m + f);
}

/**
 * Checks that a strategy can combine `count` updates, before a run claims them: an AggregationError
 * (the run fails, nothing is claimed) that says how many it needs.
 */
export function assertStrategyCanCombine(strategy: Strategy, count: number): void {
  const needed = minimumUpdates(strategy);
  if (count < needed) {
    const { f, m } = strategy.params as MultiKrumOptions;
    throw new StrategyError(
      `${strategy.name} with f=${f}${strategy.name === 'multi_krum' ? ` and m=${m}` : ''} needs at least ${needed} updates (n ≥ 2f + 3${strategy.name === 'multi_krum' ? ' and n ≥ m + f' : ''}); ${count} are ready`,
    );
  }
}
