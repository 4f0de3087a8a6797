import type { MiddlewareObj, Request } from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { runStateOutcome } from '../aggregation/run-states';
import type { RunStateReport } from '../connector';
import { runStateRecorder } from '../connector/run-state-recorder';
import { RunIdSchema, type RunError } from '../entities';
import { FmaError } from '../errors';
import { appendCorrelationKeys, logger } from '../observability';
import { toFmaError } from './errors';
import { isHttpApiEvent } from './events';

/**
 * The key under which the state machine tells a task which state of which run it serves
 * (state-machines/aggregation.json, every Task state outside the shard Maps):
 * `"run_record": {"state": "ClaimUpdates", "model.$": "$.model", "run.$": "$.run",
 * "started_at.$": "$$.Execution.StartTime"}`, and on the failed run's last task
 * `"caught.$": "$.error"` too. The state's name is written out, since `$$.State.Name` is not
 * available to the local executor.
 */
export const RUN_RECORD_KEY = 'run_record';

const EnvelopeSchema = z.object({
  state: z.string().min(1).max(80),
  model: z.number().int().positive(),
  run: RunIdSchema,
  started_at: z.string().optional(),
  caught: z.object({ Error: z.string().optional(), Cause: z.string().nullable().optional() }).nullable().optional(),
});
type Envelope = z.infer<typeof EnvelopeSchema>;

type AnyRequest = Request<unknown, unknown, Error, Context, Record<string, unknown>>;
const RECORDING = 'fmaRunRecording';

interface Recording {
  readonly envelope: Envelope;
  readonly enteredAt: Date;
}

/**
 * Records each Task state of an aggregation run in the run's record, from the task itself, so
 * that the runs a developer sees are the same on AWS and locally (Step Functions' history is
 * neither shared nor kept by the local executor). Only direct invocations that carry
 * {@link RUN_RECORD_KEY} are recorded; the key is taken out before the input is validated, so a
 * task's own schema never sees it. One write per invocation (the connector's `recordRunState`), at
 * the end, success or error; a write that fails is logged and never fails the task: the record
 * is for people, the run does not depend on it.
 */
export function recordRunStates(): MiddlewareObj {
  return {
    before: (request: AnyRequest) => {
      const event = request.event;
      if (typeof event !== 'object' || event === null || Array.isArray(event) || !(RUN_RECORD_KEY in event) || isHttpApiEvent(event)) return;
      const { [RUN_RECORD_KEY]: envelope, ...input } = event as Record<string, unknown>;
      request.event = input;
      const parsed = EnvelopeSchema.safeParse(envelope);
      if (!parsed.success) {
        logger.warn(`the ${RUN_RECORD_KEY} of this invocation is malformed: not recorded`, { issues: parsed.error.issues.length });
        return;
      }
      // The connector operations the run calls (PullModel's fed_model_id) name no run in their input.
      appendCorrelationKeys({ model: parsed.data.model, run: parsed.data.run });
      request.internal[RECORDING] = { envelope: parsed.data, enteredAt: new Date() } satisfies Recording;
    },
    after: async (request: AnyRequest) => {
      await record(request, { result: request.response });
    },
    onError: async (request: AnyRequest) => {
      await record(request, { error: toFmaError(request.error) });
    },
  };
}

async function record(request: AnyRequest, outcome: { result: unknown } | { error: unknown }): Promise<void> {
  const recording = request.internal[RECORDING] as Recording | undefined;
  if (recording === undefined) return;
  delete request.internal[RECORDING];
  const { envelope, enteredAt } = recording;
  const error = 'error' in outcome ? taskError(envelope.state, outcome.error) : null;
  const startedAt = envelope.started_at === undefined ? undefined : new Date(envelope.started_at);
  const report: RunStateReport = {
    run: envelope.run,
    model: envelope.model,
    state: envelope.state,
    ...(startedAt !== undefined && !Number.isNaN(startedAt.getTime()) ? { startedAt } : {}),
    enteredAt,
    exitedAt: new Date(),
    error,
    caught: caughtError(envelope.caught),
    ...runStateOutcome(envelope.state, error === null ? { result: 'result' in outcome ? outcome.result : undefined } : { errorName: error.error }),
  };
  // Set by the container's connector when the function loaded it (every aggregation task does).
  const recordRunState = runStateRecorder();
  if (recordRunState === undefined) {
    logger.warn('this function has no connector: the run state is not recorded', { state: envelope.state });
    return;
  }
  try {
    await recordRunState(report);
  } catch (failure) {
    logger.warn('the run state could not be recorded', { state: envelope.state, error: failure as Error });
  }
}

/**
 * What the task threw, as the run's developer may read it: our errors with their message (written
 * to be read; it may quote a client's input, and is made storable by the connector); anything
 * else by its name only, since its message may hold internals (the function's log has it).
 */
function taskError(state: string, error: unknown): RunError {
  if (error instanceof FmaError) return { state, error: error.name, cause: error.message };
  const name = error instanceof Error ? error.name : 'Error';
  return { state, error: name, cause: 'an unexpected error; the function log has its details' };
}

/**
 * What Step Functions caught: its `Error`, and its `Cause` only for the platform's own errors
 * (`States.Timeout`, `Lambda.Unknown`, ...: a task that never got to record its error). A task's
 * own error keeps the cause it recorded itself; Step Functions' copy of it is the raw message.
 */
function caughtError(caught: Envelope['caught']): RunStateReport['caught'] {
  if (caught === undefined || caught === null || caught.Error === undefined) return null;
  const platform = /^(States|Lambda)\./.test(caught.Error);
  return { error: caught.Error, cause: platform ? (caught.Cause ?? null) : null };
}
