import { checkRequirement, RequirementError, validateRequirement } from '../../lib/algorithms';

const context = (modelClients: string[], updateClients: string[]) => ({ modelClients, updateClients });

describe('requirements', () => {
  it('all_clients is met when every client of the model sent an update', () => {
    expect(checkRequirement('all_clients', [], context(['a', 'b'], ['b', 'a', 'a'])).met).toBe(true);
    expect(checkRequirement('all_clients', [], context(['a', 'b'], ['a', 'a'])).met).toBe(false);
  });

  it('all_clients is not met by a model without clients', () => {
    expect(checkRequirement('all_clients', [], context([], [])).met).toBe(false);
  });

  it('require_x_updates counts the ready updates', () => {
    expect(checkRequirement('require_x_updates', [3], context(['a'], ['a', 'a', 'a'])).met).toBe(true);
    expect(checkRequirement('require_x_updates', [3], context(['a'], ['a', 'a']))).toEqual({
      met: false,
      reason: '2 updates, 3 required',
    });
  });

  it('no requirement is always met', () => {
    expect(checkRequirement(null, [], context([], [])).met).toBe(true);
  });

  it('rejects unknown names and bad arguments (FMA skipped them silently)', () => {
    expect(() => checkRequirement('most_clients', [], context([], []))).toThrow(RequirementError);
    expect(() => validateRequirement('most_clients', [])).toThrow(/known requirements: all_clients, require_x_updates/);
    expect(() => validateRequirement('require_x_updates', [])).toThrow(RequirementError);
    expect(() => validateRequirement('require_x_updates', [0])).toThrow(/positive/);
    expect(() => validateRequirement('all_clients', [1])).toThrow(RequirementError);
    expect(() => validateRequirement('hasOwnProperty', [])).toThrow(RequirementError);
  });
});
