import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { Run } from '../../lib/api/operation-fields';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { ConfigurationError, NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ name: Run });

let sfn: SFNClient | undefined;

/**
 * `GET /aggregation/runs/{name}`: how a run started by `POST /aggregation/run`, the schedule or an
 * update is going or ended: `{name, model, status: RUNNING | SUCCEEDED | FAILED, final_state,
 * error, started_at, stopped_at}`. Locally from the executor's record; on AWS from
 * DescribeExecution (`final_state` is then null: the execution's history holds it).
 */
export const handler = createHandler({ input, fromHttpEvent: (event) => ({ name: event.pathParameters?.name }) }, async ({ name }) => {
  const config = getConfig();
  if (config.AGGREGATION_EXECUTOR === 'local') {
    const execution = await getConnector().pullExecution(name);
    if (execution === null) throw new NotFoundError(`No aggregation run is named ${name}`);
    return {
      name: execution.name,
      model: execution.model,
      status: execution.status,
      final_state: execution.finalState,
      error: execution.error,
      started_at: execution.startedAt.toISOString(),
      stopped_at: execution.stoppedAt?.toISOString() ?? null,
      states_entered: execution.statesEntered ?? null,
      lambda_invocations: execution.lambdaInvocations ?? null,
    };
  }
  if (config.AGGREGATION_STATE_MACHINE_ARN === undefined) {
    throw new ConfigurationError('AGGREGATION_STATE_MACHINE_ARN is not set: runs cannot be looked up');
  }
  sfn ??= new SFNClient({});
  const executionArn = `${config.AGGREGATION_STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
  try {
    const found = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const input = JSON.parse(found.input ?? '{}') as { model?: number };
    return {
      name,
      model: input.model ?? null,
      status: found.status === 'SUCCEEDED' ? 'SUCCEEDED' : found.status === 'RUNNING' || found.status === 'PENDING_REDRIVE' ? 'RUNNING' : 'FAILED',
      final_state: null,
      error: found.error ?? null,
      started_at: found.startDate?.toISOString() ?? null,
      stopped_at: found.stopDate?.toISOString() ?? null,
    };
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist) throw new NotFoundError(`No aggregation run is named ${name}`);
    throw error;
  }
});
