import { checkRequirement, RequirementError, validateRequirement } from '../../lib/algorithms';

describe('the deadline requirement: at least k updates and the oldest waited T seconds, or every client sent', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
  const modelClients = ['a', 'b', 'c'];

  it('waits while fewer than k updates are ready, however long they waited', () => {
    const verdict = checkRequirement('deadline', [2, 60], { modelClients, updateClients: ['a'], updateCreatedOn: [ago(3600)], now });
    expect(verdict).toMatchObject({ met: false, reason: '1 updates, 2 required before the deadline' });
  });

  it('waits while the oldest of k updates has waited less than T', () => {
    const verdict = checkRequirement('deadline', [2, 60], { modelClients, updateClients: ['a', 'b'], updateCreatedOn: [ago(59), ago(10)], now });
    expect(verdict.met).toBe(false);
    expect(verdict.reason).toMatch(/waited 59 s of 60/);
  });

  it('is met once the oldest of k updates has waited T', () => {
    const verdict = checkRequirement('deadline', [2, 60], { modelClients, updateClients: ['a', 'b'], updateCreatedOn: [ago(5), ago(60)], now });
    expect(verdict.met).toBe(true);
  });

  it('is met at once when every client has sent, before the deadline', () => {
    const verdict = checkRequirement('deadline', [5, 3600], { modelClients, updateClients: ['a', 'b', 'c'], updateCreatedOn: [now, now, now], now });
    expect(verdict).toMatchObject({ met: true, reason: 'all 3 clients sent an update' });
  });

  it('refuses bad arguments (k < 1, T < 0, missing T) when a model is created', () => {
    expect(() => validateRequirement('deadline', [0, 10])).toThrow(RequirementError);
    expect(() => validateRequirement('deadline', [2, -1])).toThrow(/T must be a number of seconds/);
    expect(() => validateRequirement('deadline', [2])).toThrow(RequirementError);
    expect(validateRequirement('deadline', [2, 0.5])).toEqual([2, 0.5]);
  });
});
