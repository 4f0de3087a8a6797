import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { ConfigurationError } from '../../lib/errors';
import type { StartedRun } from '../../lib/aggregation/triggers';

export { executionName } from '../../lib/aggregation/triggers';
export type { StartedRun } from '../../lib/aggregation/triggers';

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
  const config = getConfig();
  if (config.AGGREGATION_EXECUTOR === 'local') {
    const connector = getConnector();
    if (!(await connector.recordExecutionStart(run, model))) return { model, run, started: false };
    const { executeAggregationLocally } = await import('./local-executor');
    const going = executeAggregationLocally({ model, run })
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
      .catch((error: unknown) => console.error(JSON.stringify({ message: 'local run could not record its end', run, error: String(error) })))
      .finally(() => localRuns.delete(going));
    localRuns.add(going);
    return { model, run, started: true };
  }
  if (config.AGGREGATION_STATE_MACHINE_ARN === undefined) {
    throw new ConfigurationError('AGGREGATION_STATE_MACHINE_ARN is not set: the aggregation state machine cannot be started');
  }
  sfn ??= new SFNClient({});
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
