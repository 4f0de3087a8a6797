import { z } from 'zod';
import { ValidationError } from '../errors';
import { validationErrorFromZod } from '../errors/from-zod';

/** What a requirement looks at: the model's clients and the clients of the ready updates. */
export interface RequirementContext {
  readonly modelClients: readonly string[];
  readonly updateClients: readonly string[];
  /** When each ready update arrived (same order as updateClients); `deadline` needs it. */
  readonly updateCreatedOn?: readonly Date[];
  /** The time of the check (a run's clock; tests pass their own). */
  readonly now?: Date;
}

export interface RequirementVerdict {
  readonly met: boolean;
  readonly reason: string;
}

interface Requirement {
  /** Validates the requirement's arguments (when the model is created, and again at run time). */
  readonly args: z.ZodType<unknown[]>;
  readonly check: (args: never, context: RequirementContext) => RequirementVerdict;
}

/** FMA's `all_clients`: every client of the model has at least one ready update. */
const allClients: Requirement = {
  args: z.tuple([]),
  check: (_args: [], { modelClients, updateClients }: RequirementContext) => {
    const sent = new Set(updateClients);
    const missing = modelClients.filter((client) => !sent.has(client));
    return missing.length === 0 && modelClients.length > 0
      ? { met: true, reason: `all ${modelClients.length} clients sent an update` }
      : { met: false, reason: `${missing.length} of ${modelClients.length} clients have not sent an update` };
  },
};

/** FMA's `require_x_updates(x)`: at least x ready updates. */
const requireXUpdates: Requirement = {
  args: z.tuple([z.number().int().positive('x must be a positive integer')]),
  check: ([x]: [number], { updateClients }: RequirementContext) =>
    updateClients.length >= x
      ? { met: true, reason: `${updateClients.length} updates, ${x} required` }
      : { met: false, reason: `${updateClients.length} updates, ${x} required` },
};

/**
 * `deadline(k, T)` (issue #11, asynchronous rounds): aggregate once at least k updates are ready
 * and the oldest of them has waited T seconds, or once every client of the model has sent one, so
 * that a round never waits forever for a client that has gone.
 */
const deadline: Requirement = {
  args: z.tuple([
    z.number().int('k must be a positive integer').positive('k must be a positive integer'),
    z.number().finite('T must be a number of seconds ≥ 0').nonnegative('T must be a number of seconds ≥ 0'),
  ]),
  check: ([k, seconds]: [number, number], context: RequirementContext) => {
    const all = allClients.check([] as never, context);
    if (all.met) return all;
    const count = context.updateClients.length;
    if (count < k) return { met: false, reason: `${count} updates, ${k} required before the deadline` };
    const arrivals = context.updateCreatedOn ?? [];
    const oldest = arrivals.reduce((min, date) => Math.min(min, date.getTime()), Number.POSITIVE_INFINITY);
    const waited = Number.isFinite(oldest) ? ((context.now ?? new Date()).getTime() - oldest) / 1000 : 0;
    return waited >= seconds
      ? { met: true, reason: `${count} updates (${k} required), the oldest waited ${Math.floor(waited)} s of ${seconds}` }
      : { met: false, reason: `${count} updates (${k} required), the oldest has waited ${Math.floor(waited)} s of ${seconds}` };
  },
};

export const REQUIREMENTS: Readonly<Record<string, Requirement>> = Object.freeze({
  all_clients: allClients,
  require_x_updates: requireXUpdates,
  deadline,
});

export const REQUIREMENT_NAMES = Object.keys(REQUIREMENTS);

/** An unknown requirement name or bad arguments: rejected when a model is created, fatal for a run. */
export class RequirementError extends ValidationError {
  static {
    this.prototype.name = 'RequirementError';
  }
}

/** Checks a requirement name and its arguments; returns the parsed arguments. */
export function validateRequirement(name: string, args: readonly unknown[]): unknown[] {
  if (!Object.hasOwn(REQUIREMENTS, name)) {
    throw new RequirementError(`Unknown requirement "${name}"; known requirements: ${REQUIREMENT_NAMES.join(', ')}`, {
      details: [{ field: 'requirement', message: `must be one of ${REQUIREMENT_NAMES.join(', ')}` }],
    });
  }
  const parsed = REQUIREMENTS[name]!.args.safeParse(args);
  if (!parsed.success) {
    const error = validationErrorFromZod(parsed.error, `requirement_args of ${name}`);
    throw new RequirementError(error.message, { details: error.details });
  }
  return parsed.data;
}

/** Whether a run may go ahead. No requirement (null) is always met. */
export function checkRequirement(
  name: string | null,
  args: readonly unknown[],
  context: RequirementContext,
): RequirementVerdict {
  if (name === null) return { met: true, reason: 'no requirement' };
  const parsed = validateRequirement(name, args);
  return REQUIREMENTS[name]!.check(parsed as never, context);
}
