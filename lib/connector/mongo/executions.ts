import { z } from 'zod';
import { isDuplicateKeyError } from '../../db/driver-errors';
import { RunIdSchema, storableDiagnostic } from '../../entities';
import type { LocalExecution } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';

// What the local executor (`npm start`) records of the runs it starts, so that a caller can ask
// how a run it started in the background ended, as it would ask Step Functions on AWS.

/** Records a run as started; false when one of that name exists (a duplicate trigger: start nothing). */
export async function recordExecutionStart(context: ConnectorContext, name: string, model: number): Promise<boolean> {
  const id = parseArgument(RunIdSchema, name, 'name');
  const modelId = parseArgument(RefSchema, model, 'model');
  const { localExecutions } = await context.collections();
  try {
    await localExecutions.insertOne({ _id: id, model: modelId, status: 'RUNNING', finalState: null, error: null, startedAt: new Date(), stoppedAt: null });
    return true;
  } catch (error) {
    if (isDuplicateKeyError(error)) return false;
    throw error;
  }
}

const EndSchema = z.object({
  status: z.enum(['SUCCEEDED', 'FAILED']),
  finalState: z.string().max(200),
  // An error's message may quote a client's input: made storable, never refused.
  error: z.string().max(2_000).transform(storableDiagnostic).nullable(),
  statesEntered: z.number().int().nonnegative().optional(),
  lambdaInvocations: z.number().int().nonnegative().optional(),
});

export async function recordExecutionEnd(context: ConnectorContext, name: string, end: z.input<typeof EndSchema>): Promise<void> {
  const id = parseArgument(RunIdSchema, name, 'name');
  const parsed = parseArgument(EndSchema, end, 'end');
  const { localExecutions } = await context.collections();
  await localExecutions.updateOne({ _id: id }, { $set: { ...parsed, stoppedAt: new Date() } });
}

export async function pullExecution(context: ConnectorContext, name: string): Promise<LocalExecution | null> {
  const id = parseArgument(RunIdSchema, name, 'name');
  const { localExecutions } = await context.collections();
  const found = await localExecutions.findOne({ _id: id });
  if (found === null) return null;
  const { _id, ...rest } = found;
  return { name: _id, ...rest };
}
