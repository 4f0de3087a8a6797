import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { getConfig } from '../../lib/config';
import { ConfigurationError } from '../../lib/errors';

export interface StartedRun {
  readonly model: number;
  /** The run id: the execution's name. */
  readonly run: string;
  /** False when an execution of that name exists already (a duplicate trigger: harmless). */
  readonly started: boolean;
  readonly executionArn?: string;
  /** Under the local executor: how the run ended. */
  readonly finalState?: string;
}

let sfn: SFNClient | undefined;

/**
 * An execution name for a model's run: `<model>-<trigger>`, within Step Functions' 80
 * characters of letters, digits, `-` and `_`. Names repeat for the same trigger (the same
 * minute of the schedule, the same update), which is what makes duplicate triggers harmless:
 * Step Functions refuses a second execution of one name.
 */
export function executionName(model: number, trigger: string): string {
  return `model-${model}-${trigger}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}

/**
 * Starts the aggregation state machine for a model: StartExecution when deployed; under
 * `npm start` (AGGREGATION_EXECUTOR=local) the same definition runs in-process, to the end.
 */
export async function startAggregationRun(model: number, run: string): Promise<StartedRun> {
  const config = getConfig();
  if (config.AGGREGATION_EXECUTOR === 'local') {
    const { executeAggregationLocally } = await import('./local-executor');
    const result = await executeAggregationLocally({ model, run });
    return { model, run, started: true, finalState: result.finalState };
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
