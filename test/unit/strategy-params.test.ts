import { assertStrategyCanCombine, parseStrategy, STRATEGY_NAMES, StrategyError } from '../../lib/algorithms/strategies';

describe('a model\'s aggregation strategy (aggregator + aggregator_params)', () => {
  it('keeps FMA\'s aggregators and weighted FedAvg working without parameters', () => {
    for (const name of ['avg_values_if_data', 'average_layers', 'weighted_fedavg']) {
      expect(parseStrategy(name, null)).toEqual({ family: 'mean', name, params: {} });
      expect(parseStrategy(name, undefined)).toEqual({ family: 'mean', name, params: {} });
    }
  });

  it('knows every strategy of issue #11', () => {
    expect(STRATEGY_NAMES).toEqual(
      expect.arrayContaining(['coordinate_median', 'trimmed_mean', 'krum', 'multi_krum', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad']),
    );
  });

  it.each([
    ['coordinate_median', null, { family: 'coordinate' }],
    ['trimmed_mean', { beta: 0.1, block_size: 1000 }, { family: 'coordinate', params: { beta: 0.1, block_size: 1000 } }],
    ['krum', { f: 2 }, { family: 'krum', params: { f: 2, m: 1 } }],
    ['multi_krum', { f: 1, m: 3 }, { family: 'krum', params: { f: 1, m: 3 } }],
    ['fedavgm', { server_lr: 1, momentum: 0.9 }, { family: 'optimizer' }],
    ['fedadam', { server_lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 }, { family: 'optimizer' }],
    ['fedyogi', { server_lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3, clip_norm: 5 }, { family: 'optimizer' }],
    ['fedadagrad', { server_lr: 0.1, beta1: 0, tau: 1e-3 }, { family: 'optimizer' }],
    ['avg_values_if_data', { clip_norm: 1, noise_multiplier: 1.1, staleness_exponent: 0.5 }, { family: 'mean' }],
    ['weighted_fedavg', { staleness_exponent: 1, clip_norm: 2 }, { family: 'mean' }],
  ])('accepts %s with %j', (name, params, expected) => {
    expect(parseStrategy(name, params)).toMatchObject({ name, ...expected });
  });

  it.each([
    ['trimmed_mean', { beta: 0.5 }, 'aggregator_params.beta', /beta must be in \[0, 0.5\)/],
    ['trimmed_mean', { beta: -0.1 }, 'aggregator_params.beta', /beta must be in \[0, 0.5\)/],
    ['trimmed_mean', null, 'aggregator_params.beta', /beta/],
    ['krum', { f: 1.5 }, 'aggregator_params.f', /integer/],
    ['multi_krum', { f: 1 }, 'aggregator_params.m', /m/],
    ['fedadam', { server_lr: 0.1, beta1: 0.9, tau: 1e-3 }, 'aggregator_params.beta2', /beta2/],
    ['fedavgm', { server_lr: 0, momentum: 0.9 }, 'aggregator_params.server_lr', /server_lr must be > 0/],
    ['fedavgm', { server_lr: 1, momentum: 1 }, 'aggregator_params.momentum', /momentum must be in \[0, 1\)/],
    ['coordinate_median', { beta: 0.1 }, 'aggregator_params', /beta/],
    ['avg_values_if_data', { noise_multiplier: 1 }, 'aggregator_params.noise_multiplier', /needs clip_norm/],
    ['weighted_fedavg', { clip_norm: 1, noise_multiplier: 1 }, 'aggregator_params.noise_multiplier', /unweighted mean/],
    ['median', null, 'aggregator', /Unknown aggregator "median"; known aggregators: avg_values_if_data/],
  ])('refuses %s with %j (400 on %s)', (name, params, field, message) => {
    let error: unknown;
    try {
      parseStrategy(name, params as Record<string, unknown> | null);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(StrategyError);
    expect((error as StrategyError).statusCode).toBe(400);
    expect((error as StrategyError).message).toMatch(message);
    expect((error as StrategyError).details.map((detail) => detail.field)).toContain(field);
  });

  it('refuses at run time a Krum round with too few updates for f (n ≥ 2f + 3) and a Multi-Krum round with n < m + f', () => {
    const krum = parseStrategy('krum', { f: 2 });
    expect(() => assertStrategyCanCombine(krum, 6)).toThrow(/krum with f=2 needs at least 7 updates .* 6 are ready/);
    expect(() => assertStrategyCanCombine(krum, 7)).not.toThrow();
    const multi = parseStrategy('multi_krum', { f: 1, m: 5 });
    expect(() => assertStrategyCanCombine(multi, 5)).toThrow(/needs at least 6/);
    expect(() => assertStrategyCanCombine(parseStrategy('coordinate_median', null), 1)).not.toThrow();
  });
});
