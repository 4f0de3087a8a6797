import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { getConfig } from '../config';
import { getConnector, type MetadataConnector } from '../connector';
import { triggerOfRun, type FederatedModel, type ModelUpdate } from '../entities';
import { ConfigurationError } from '../errors';
import { logger, MetricName, recordMetricBy, traceAwsClient } from '../observability';
import { executionName, minuteOf, startRunIfRoundReady, type StartedRun } from './triggers';

export { executionName } from './triggers';
export type { StartedRun } from './triggers';

/** How a run that a local executor ran ended (what `GET /aggregation/runs/{name}` reports). */
export interface LocalRunResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'HALTED';
  readonly finalState: string;
  readonly error?: string;
  readonly statesEntered: number;
  readonly lambdaInvocations: number;
}

/** Runs the aggregation state machine in this process (functions/aggregation/local-executor.ts). */
export type LocalRunExecutor = (input: { model: number; run: string }) => Promise<LocalRunResult>;

// Kept on globalThis, not in this module: under serverless-offline the executor is registered by
// a preload (scripts/local-executor-preload.cjs) whose copy of this module is not the bundle's.
const LOCAL_EXECUTOR = Symbol.for('fma-serverless.localRunExecutor');

/**
 * Sets the executor that runs state machines when AGGREGATION_EXECUTOR=local: `npm start` and the
 * tests register functions/aggregation/local-executor.ts, which no deployed bundle contains.
 *
 * @example registerLocalExecutor((input) => executeAggregationLocally(input));
 */
export function registerLocalExecutor(executor: LocalRunExecutor | undefined): void {
  (globalThis as Record<symbol, unknown>)[LOCAL_EXECUTOR] = executor;
}

function localExecutor(): LocalRunExecutor {
  const executor = (globalThis as Record<symbol, unknown>)[LOCAL_EXECUTOR] as LocalRunExecutor | undefined;
  if (executor === undefined) {
    throw new ConfigurationError(
      'AGGREGATION_EXECUTOR is local but no local executor is registered: run the service with npm start (scripts/offline.ts registers it)',
    );
  }
  return executor;
}

let sfn: SFNClient | undefined;

/** Local runs still going in this process (see {@link settleLocalRuns}). */
const localRuns = new Set<Promise<void>>();

/**
 * Starts the aggregation state machine for a model and answers at once: StartExecution when
 * deployed; under `npm start` (AGGREGATION_EXECUTOR=local) the same definition runs in-process in
 * the background, recorded under its name so that a duplicate name starts nothing (as on AWS)
 * and `GET /aggregation/runs/{name}` can tell how it ended.
 */
export async function startAggregationRun(model: number, run: string): Promise<StartedRun> {
  const started = await startExecution(model, run);
  if (started.started) recordMetricBy(MetricName.RunsStarted, 'trigger', triggerOfRun(run));
  return started;
}

async function startExecution(model: number, run: string): Promise<StartedRun> {
  const config = getConfig();
  if (config.AGGREGATION_EXECUTOR === 'local') {
    const execute = localExecutor();
    const connector = getConnector();
    if (!(await connector.recordExecutionStart(run, model))) return { model, run, started: false };
    const going = execute({ model, run })
      .then(
        (result) =>
          connector.recordExecutionEnd(run, {
            status: result.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED',
            finalState: result.finalState,
            error: result.error ?? null,
            statesEntered: result.statesEntered,
            lambdaInvocations: result.lambdaInvocations,
          }),
        (error: unknown) =>
          connector.recordExecutionEnd(run, { status: 'FAILED', finalState: 'ExecutorError', error: String(error).slice(0, 2_000) }),
      )
      .catch((error: unknown) => logger.error('local run could not record its end', { run, error: error as Error }))
      .finally(() => localRuns.delete(going));
    localRuns.add(going);
    return { model, run, started: true };
  }
  if (config.AGGREGATION_STATE_MACHINE_ARN === undefined) {
    throw new ConfigurationError('AGGREGATION_STATE_MACHINE_ARN is not set: the aggregation state machine cannot be started');
  }
  sfn ??= traceAwsClient(new SFNClient({}));
  try {
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: config.AGGREGATION_STATE_MACHINE_ARN,
        name: run,
        input: JSON.stringify({ model, run }),
      }),
    );
    return { model, run, started: true, executionArn: started.executionArn };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return { model, run, started: false };
    throw error;
  }
}

/** Waits for the local runs this process started (tests, and a clean shutdown). */
export async function settleLocalRuns(): Promise<void> {
  while (localRuns.size > 0) await Promise.all([...localRuns]);
}

/**
 * The event path (triggers.ts): a run starts when this update makes its model's round ready,
 * under a name that every trigger of the round shares. Failing to start it fails nothing: the
 * schedule picks the round up. Under `npm start` (the local executor) only the schedule and
 * `POST /aggregation/run` start runs, so that a submission answers at once.
 */
export async function startRunForNewUpdate(connector: MetadataConnector, update: ModelUpdate, model?: FederatedModel): Promise<void> {
  if (getConfig().AGGREGATION_EXECUTOR !== 'stepfunctions') return;
  const now = new Date();
  // This container started (or found started) the model's run of this minute: another start would
  // be refused by its name, so the rest of the minute's submissions skip the reads that decide it.
  const started = startedRuns.get(connector) ?? new Map<number, string>();
  startedRuns.set(connector, started);
  if (started.get(update.federatedModel) === executionName(update.federatedModel, `update-${minuteOf(now)}`)) return;
  await startRunIfRoundReady(connector, startAggregationRun, update, model, now).then(
    (run) => {
      if (run !== null) started.set(update.federatedModel, run.run);
    },
    (error: unknown) => logger.error('starting an aggregation run failed', error as Error),
  );
}

/** Per connector (container), each model's run of the current minute that a submission started or found. */
const startedRuns = new WeakMap<MetadataConnector, Map<number, string>>();

/**
 * Starts the run that sums a secure round that just became ready (its last stage closed), under a
 * name of the round and the minute: a second start in the minute is refused by the name, and the
 * schedule starts one again for a round still waiting (a start that failed, a run that failed).
 */
export async function startSecureRoundRun(round: { readonly federatedModel: number; readonly number: number }, trigger: 'update' | 'schedule', now = new Date()): Promise<StartedRun | null> {
  try {
    return await startAggregationRun(round.federatedModel, executionName(round.federatedModel, `${trigger}-secure${round.number}-${minuteOf(now)}`));
  } catch (error) {
    logger.error('starting a secure round sum failed', error as Error);
    return null;
  }
}
