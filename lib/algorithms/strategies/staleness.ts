/**
 * Staleness weighting of asynchronous rounds (Xie et al. 2019, FedAsync; Nguyen et al. 2022,
 * FedBuff): an update trained from an aggregate τ rounds behind the parent weighs
 * s(τ) = (1 + τ)^−a, multiplied into its weight in the mean (1, or its examples in FedAvg).
 */

/** s(τ) = (1 + τ)^−a; s(0) = 1 for every a. */
export function stalenessWeight(tau: number, exponent: number): number {
  return (1 + tau) ** -exponent;
}

/**
 * How many rounds behind the parent an update is: the parent's level minus the level of the
 * aggregate it trained from. An update without a base aggregate trained from the initial model,
 * one round before the first aggregate (level 0). Without a parent, every update is fresh.
 */
export function stalenessOf(parentLevel: number | null, baseLevel: number | null): number {
  if (parentLevel === null) return 0;
  return Math.max(0, parentLevel - (baseLevel ?? -1));
}
