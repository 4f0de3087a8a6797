import type { MetadataConnector } from '../connector';
import type { FederatedModel, ModelUpdate } from '../entities';
import { assessRound } from './round-readiness';

// When a run is started. A Standard Step Functions execution costs 25 $ per million state
// transitions, and a run that finds nothing to do still enters 8 states and invokes 5 Lambdas, so
// triggers start an execution only where there is a round to aggregate, and name executions so
// that every trigger of one round collapses into one (Step Functions refuses a second execution of
// a name for 90 days; the local executor records names the same way).

/** What a trigger reports of a run it started (or found started). */
export interface StartedRun {
  readonly model: number;
  /** The run id: the execution's name. */
  readonly run: string;
  /** False when an execution of that name exists already (a duplicate trigger: harmless). */
  readonly started: boolean;
  readonly executionArn?: string;
}

export type StartRun = (model: number, run: string) => Promise<StartedRun>;

/**
 * An execution name for a model's run: `model-<model>-<trigger>`, within Step Functions' 80
 * characters of letters, digits, `-` and `_`. Names repeat for the same trigger (the same
 * minute of the schedule, the same round), which is what makes duplicate triggers harmless.
 */
export function executionName(model: number, trigger: string): string {
  return `model-${model}-${trigger}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}

/** `2026-11-30T03:41:27Z` → `202611300341`: the minute, as a name part. */
export function minuteOf(time: Date | string): string {
  return (typeof time === 'string' ? time : time.toISOString()).slice(0, 16).replace(/[^0-9]/g, '');
}

/**
 * The schedule (every minute): one query finds the models with `allow_aggregation` that have
 * claimable updates, and an execution starts only for those whose round can be aggregated now. An
 * idle deployment costs this one small invocation a minute, and no execution. A model whose
 * requirement or strategy cannot even be evaluated (data written around the checks) gets its run
 * anyway, so that the failure is recorded where an operator looks, not skipped in silence.
 */
export async function startScheduledRuns(
  connector: MetadataConnector,
  start: StartRun,
  time: Date | string,
): Promise<{ runs: StartedRun[]; waiting: { model: number; reason: string }[] }> {
  const minute = minuteOf(time);
  const candidates = await connector.pullModelsWithClaimableUpdates();
  const runs: StartedRun[] = [];
  const waiting: { model: number; reason: string }[] = [];
  for (const id of candidates) {
    const model = await connector.pullFederatedModelWId(id);
    if (model === null || !model.allowAggregation) continue;
    let met = true;
    try {
      const parent = await connector.pullLatestModelAggregate(id);
      const readiness = await assessRound(connector, model, parent?.id ?? null);
      met = readiness.met;
      if (!met) waiting.push({ model: id, reason: readiness.reason });
    } catch {
      met = true; // let the run fail where it is recorded
    }
    if (met) runs.push(await start(id, executionName(id, `schedule-${minute}`)));
  }
  return { runs, waiting };
}

/**
 * The event path: after an accepted update, a run starts only when the round can be aggregated
 * now (its requirement met, or none). Its name is the model and the minute, so all submissions of
 * a minute start at most one execution, not one each: a round of 1,000 updates sent over five
 * minutes starts at most five (and one, at its last update, when a requirement such as
 * `require_x_updates` holds it back until then). Keying on the parent aggregate as well would let
 * a model without a requirement start one per aggregate it makes, many a minute. A submission
 * that arrives after that minute's run has claimed waits for the next minute's trigger or
 * schedule (the safety net that also covers a lost trigger). Returns null when no run was due.
 */
export async function startRunIfRoundReady(
  connector: MetadataConnector,
  start: StartRun,
  update: Pick<ModelUpdate, 'federatedModel'>,
  model?: FederatedModel,
  now: Date = new Date(),
): Promise<StartedRun | null> {
  const found = model ?? (await connector.pullFederatedModelWId(update.federatedModel));
  if (found === null || !found.allowAggregation) return null;
  const parent = await connector.pullLatestModelAggregate(found.id);
  const readiness = await assessRound(connector, found, parent?.id ?? null);
  if (!readiness.met) return null;
  return start(found.id, executionName(found.id, `update-${minuteOf(now)}`));
}
