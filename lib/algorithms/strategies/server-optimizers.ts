import type { ServerOptimizerName, ServerOptimizerOptions } from './strategy-params';

/**
 * Server optimizers: the server treats Δ = mean(updates) − x_t (the negated pseudo-gradient) as a
 * step to take, and takes it with momentum or an adaptive learning rate. Reddi et al. 2021,
 * "Adaptive Federated Optimization", Algorithm 2 (FedAdagrad, FedYogi, FedAdam), without bias
 * correction, exactly as written there:
 *
 *   m_t = β1·m_{t−1} + (1 − β1)·Δ_t
 *   v_t = v_{t−1} + Δ_t²                                    (FedAdagrad)
 *   v_t = v_{t−1} − (1 − β2)·Δ_t²·sign(v_{t−1} − Δ_t²)      (FedYogi)
 *   v_t = β2·v_{t−1} + (1 − β2)·Δ_t²                        (FedAdam)
 *   x_{t+1} = x_t + η·m_t / (√v_t + τ)
 *
 * with m_{−1} = 0 and v_{−1} = τ² (the paper's "v_{−1} ≥ τ²"). FedAvgM (Hsu et al. 2019, server
 * momentum): m_t = μ·m_{t−1} + Δ_t, x_{t+1} = x_t + η·m_t; with μ = 0 and η = 1 it is FedAvg.
 */
export interface OptimizerState {
  /** First moment (FedAvgM: the momentum buffer). */
  readonly m: Float64Array;
  /** Second moment; null for FedAvgM. */
  readonly v: Float64Array | null;
}

/** The moments' names as they are stored, in order (each P float64 values). */
export function stateComponents(name: ServerOptimizerName): readonly ('m' | 'v')[] {
  return name === 'fedavgm' ? ['m'] : ['m', 'v'];
}

/** The state before the first step: m = 0, v = τ². */
export function initialOptimizerState(name: ServerOptimizerName, options: ServerOptimizerOptions, length: number): OptimizerState {
  const m = new Float64Array(length);
  if (name === 'fedavgm') return { m, v: null };
  const tau = options.tau!;
  return { m, v: new Float64Array(length).fill(tau * tau) };
}

/**
 * One server step from x_t (`parent`) with Δ (`delta`); updates `state` in place and returns
 * x_{t+1} (a new array).
 */
export function serverOptimizerStep(
  name: ServerOptimizerName,
  options: ServerOptimizerOptions,
  parent: Float64Array,
  delta: Float64Array,
  state: OptimizerState,
): Float64Array {
  const n = parent.length;
  if (delta.length !== n || state.m.length !== n || (state.v !== null && state.v.length !== n)) {
    throw new RangeError(`optimizer state of ${state.m.length} values for a model of ${n}`);
  }
  const next = new Float64Array(n);
  const { m } = state;
  const eta = options.server_lr;
  if (name === 'fedavgm') {
    const mu = options.momentum!;
    for (let j = 0; j < n; j += 1) {
      m[j] = mu * m[j]! + delta[j]!;
      next[j] = parent[j]! + eta * m[j]!;
    }
    return next;
  }
  const v = state.v!;
  const beta1 = options.beta1!;
  const beta2 = options.beta2 ?? 0;
  const tau = options.tau!;
  for (let j = 0; j < n; j += 1) {
    const d = delta[j]!;
    const d2 = d * d;
    m[j] = beta1 * m[j]! + (1 - beta1) * d;
    if (name === 'fedadagrad') v[j] = v[j]! + d2;
    else if (name === 'fedyogi') v[j] = v[j]! - (1 - beta2) * d2 * Math.sign(v[j]! - d2);
    else v[j] = beta2 * v[j]! + (1 - beta2) * d2;
    next[j] = parent[j]! + (eta * m[j]!) / (Math.sqrt(v[j]!) + tau);
  }
  return next;
}
