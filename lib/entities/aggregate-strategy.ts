import { z } from 'zod';
import { EntityIdSchema } from './ids';

/** Where a server optimizer's state after an aggregate lives in the object store (its moments, float64). */
export const OptimizerStateRefSchema = z.object({
  key: z.string().min(1),
  optimizer: z.enum(['fedavgm', 'fedadam', 'fedyogi', 'fedadagrad']),
  /** The moments stored one after another, each `length` values. */
  components: z.array(z.enum(['m', 'v'])),
  length: z.number().int().nonnegative(),
  byteSize: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export type OptimizerStateRef = z.infer<typeof OptimizerStateRefSchema>;

/**
 * How an aggregate was computed, when its model's strategy is more than a plain mean (issue #11):
 * the strategy and parameters of the run, how many updates it combined and, per strategy, which
 * were selected (Krum), the clipping bound, noise multiplier and σ (central DP), the staleness
 * exponent, and the optimizer state the next run resumes from.
 */
export const AggregateStrategySchema = z.object({
  aggregator: z.string(),
  params: z.record(z.string(), z.unknown()),
  numUpdates: z.number().int().nonnegative(),
  /** Krum/Multi-Krum: the ids of the updates selected. */
  selectedUpdates: z.array(EntityIdSchema).nullable(),
  clipNorm: z.number().nullable(),
  /** How many updates' deltas were longer than clipNorm and scaled down. */
  clippedUpdates: z.number().int().nonnegative().nullable(),
  noiseMultiplier: z.number().nullable(),
  /** σ of the Gaussian noise added to each coordinate: noiseMultiplier × clipNorm / numUpdates. */
  noiseStd: z.number().nullable(),
  stalenessExponent: z.number().nullable(),
  optimizerState: OptimizerStateRefSchema.nullable(),
});

export type AggregateStrategy = z.infer<typeof AggregateStrategySchema>;

/** The record as stored: parameters as JSON text (user keys are not valid field names everywhere). */
export type StoredAggregateStrategy = Omit<AggregateStrategy, 'params'> & { paramsJson: string };

export function toStoredAggregateStrategy(record: AggregateStrategy): StoredAggregateStrategy {
  const { params, ...rest } = record;
  return { ...rest, paramsJson: JSON.stringify(params) };
}

export function fromStoredAggregateStrategy(stored: StoredAggregateStrategy): AggregateStrategy {
  const { paramsJson, ...rest } = stored;
  return { ...rest, params: JSON.parse(paramsJson) as Record<string, unknown> };
}
