import type { Strategy } from '../algorithms/strategies';
import type { SecureAggregationOptions } from '../entities/secure-aggregation';
import { ValidationError } from '../errors';

/** Server-side options that read each update on its own, which a masked input does not allow. */
const PER_UPDATE_OPTIONS = {
  clip_norm: 'clips each update on its own',
  noise_multiplier: 'needs clip_norm, which clips each update on its own',
  staleness_exponent: "weighs each update by its own base aggregate, which a masked input does not carry",
} as const;

/**
 * Secure aggregation gives the service the sum of the clients' inputs and nothing else, so only
 * strategies that need just a sum can run on it: the means (avg_values_if_data, average_layers,
 * weighted_fedavg) and the server optimizers applied to the mean. Anything that looks at updates
 * one by one (median, trimmed mean, Krum, per-update clipping) is refused here, with why.
 */
export function assertSecureAggregationStrategy(strategy: Strategy, options: SecureAggregationOptions | null): void {
  if (options === null) return;
  const refuse = (why: string) => {
    const message = `secure aggregation gives the service only the sum of the clients' updates, but ${why}`;
    throw new ValidationError(`secure_aggregation ${message}`, { details: [{ field: 'secure_aggregation', message }] });
  };
  if (strategy.family === 'coordinate' || strategy.family === 'krum') {
    refuse(`aggregator ${strategy.name} compares the updates one by one: use avg_values_if_data, average_layers, weighted_fedavg or a server optimizer (fedavgm, fedadam, fedyogi, fedadagrad)`);
  }
  for (const [option, why] of Object.entries(PER_UPDATE_OPTIONS)) {
    if ((strategy.params as Record<string, unknown>)[option] !== undefined) refuse(`aggregator_params.${option} ${why}; clients clip to clip_range instead`);
  }
}

/**
 * Refuses an update in the clear for a model with secure aggregation: its clients send masked
 * inputs through secure rounds only, so the service never holds one client's update.
 */
export function assertTakesPlainUpdates(model: { readonly id: number; readonly secureAggregation: SecureAggregationOptions | null }, field = 'federated_model'): void {
  if (model.secureAggregation === null) return;
  const message = `federated model ${model.id} uses secure aggregation: its clients send masked inputs through secure rounds (POST /api/v1/models/${model.id}/secure_round/keys/ to join one), never updates in the clear`;
  throw new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}
