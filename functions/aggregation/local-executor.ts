import '../../lib/aggregation/promise-with-resolvers';
import type { Context } from 'aws-lambda';
import { StateMachine } from 'aws-local-stepfunctions';
import definition from '../../state-machines/aggregation.json';
import { handler as pullFederatedModelWId } from '../connector/pull-federated-model-w-id';
import { handler as pullLatestModelAggregate } from '../connector/pull-latest-model-aggregate';
import { handler as acquireAggregationLease } from './acquire-lease';
import { handler as aggregateUpdates } from './aggregate-updates';
import { handler as sumSecureRound } from './sum-secure-round';
import { handler as checkAggregationRequirement } from './check-requirement';
import { handler as claimAggregationUpdates } from './claim-updates';
import { handler as completeAggregationRun } from './complete-run';
import { handler as failAggregationRun } from './fail-run';
import { handler as releaseAggregationLease } from './release-lease';
import { handler as aggregateShard } from './aggregate-shard';
import { handler as completeShardedAggregation } from './complete-sharded-aggregation';
import { handler as discardShardedAggregation } from './discard-sharded-aggregation';
import { handler as measureShard } from './measure-shard';
import { createPlanHandler, handler as planAggregation } from './plan-aggregation';
import { handler as reduceShardMeasures } from './reduce-shard-measures';

import { shardLimits, type ShardLimits } from '../../lib/aggregation/shard-plan';
import { pullShardItems } from '../../lib/store/weights';
import { getObjectStore } from '../../lib/store';

/**
 * Runs the aggregation state machine in-process: the very definition `serverless.yml` deploys
 * (state-machines/aggregation.json), interpreted by aws-local-stepfunctions, with each Task
 * bound to the handler of the Lambda its `Resource` names. Used by `npm start` (where no Step
 * Functions service exists) and by the tests; never part of a deployed bundle (npm start registers it
 * through scripts/local-executor-preload.cjs, the tests through test/helpers/local-execution.ts).
 */
const TASK_HANDLERS: Record<string, (event: unknown, context: Context) => Promise<unknown>> = {
  acquireAggregationLease,
  releaseAggregationLease,
  checkAggregationRequirement,
  claimAggregationUpdates,
  aggregateUpdates,
  sumSecureRound,
  completeAggregationRun,
  failAggregationRun,
  pullFederatedModelWId,
  pullLatestModelAggregate,
  planAggregation,
  measureShard,
  reduceShardMeasures,
  aggregateShard,
  completeShardedAggregation,
  discardShardedAggregation,
};

interface TaskState {
  Type: 'Task';
  Resource: { 'Fn::GetAtt': [string, 'Arn'] } | string;
  Next?: string;
  End?: boolean;
  Catch?: unknown;
}

interface MapState {
  Type: 'Map';
  ItemReader?: unknown;
  ItemsPath?: string;
  ItemProcessor: { ProcessorConfig?: unknown; StartAt: string; States: Record<string, State> };
  MaxConcurrency?: number;
  ToleratedFailurePercentage?: number;
}

type State = { Type: string } & Partial<Omit<TaskState, 'Type'>> & Partial<Omit<MapState, 'Type'>>;
type Definition = { States: Record<string, State> } & Record<string, unknown>;

/** Every state of the definition, those inside Map states' processors included. */
function allStates(states: Record<string, State>): [string, State][] {
  return Object.entries(states).flatMap(([name, state]) =>
    state.Type === 'Map' && state.ItemProcessor !== undefined ? [[name, state] as [string, State], ...allStates(state.ItemProcessor.States)] : [[name, state] as [string, State]],
  );
}

/** The function key (serverless.yml) behind each Task state of the definition (inside Maps too). */
export function taskFunctions(source: Definition = definition as unknown as Definition): Record<string, string> {
  const tasks: Record<string, string> = {};
  for (const [name, state] of allStates(source.States)) {
    if (state.Type !== 'Task') continue;
    const resource = state.Resource!;
    tasks[name] = typeof resource === 'string' ? resource : resource['Fn::GetAtt'][0];
  }
  return tasks;
}

/**
 * The definition as aws-local-stepfunctions can run it. On AWS the shard Maps are Distributed
 * Maps whose ItemReader reads the shard list from S3; that package implements neither, so here
 * each is an inline Map with a concurrency limit over `$.plan.items`, which the local planning
 * task adds by reading the very shard list the ItemReader would read.
 */
function localDefinition(source: Definition, shardConcurrency: number): Definition {
  for (const [, state] of allStates(source.States)) {
    if (state.Type !== 'Map' || state.ItemReader === undefined) continue;
    delete state.ItemReader;
    delete state.ToleratedFailurePercentage;
    delete state.ItemProcessor!.ProcessorConfig;
    state.ItemsPath = '$.plan.items';
    state.MaxConcurrency = shardConcurrency;
  }
  return source;
}

/** One Task invocation, as {@link LocalExecutionOptions.aroundTask} sees it. */
export interface TaskCall {
  readonly stateName: string;
  /** The serverless.yml function the state's Resource names. */
  readonly functionKey: string;
  readonly event: unknown;
  /** Runs the task's handler on the event. */
  invoke(): Promise<unknown>;
  /** Ends the run once this task is over, as a crash would: later tasks fail before they start; the result is HALTED. */
  halt(): void;
}

export interface LocalExecutionOptions {
  /**
   * Wraps every Task invocation; it may throw, as a failed Lambda would, or halt the run. Tests
   * and benches inject faults through it (test/helpers/local-execution.ts).
   */
  readonly aroundTask?: (call: TaskCall) => Promise<unknown>;
  /** Shard plan limits over the configured ones (tests: a fixed K, parts smaller than S3's minimum, which the local store takes). */
  readonly shardLimits?: Partial<ShardLimits>;
  /** Shards run at once by the local inline Map (default 2: this machine has 2 cores). */
  readonly shardConcurrency?: number;
}

export interface LocalExecutionResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'HALTED';
  /** The last state the run entered (e.g. `Aggregated`, `NothingToAggregate`, `AggregationFailed`). */
  readonly finalState: string;
  readonly output?: unknown;
  readonly error?: string;
  /** What the run would be billed for on AWS: states entered (Standard workflows bill transitions) and Lambda invocations, retries included. */
  readonly statesEntered: number;
  readonly lambdaInvocations: number;
}

export async function executeAggregationLocally(
  input: { model: number; run: string },
  options: LocalExecutionOptions = {},
): Promise<LocalExecutionResult> {
  // Copied with JSON rather than structuredClone: aws-local-stepfunctions resolves a nested
  // Parameters object (`run_record`) only if it is a plain object of its own realm, and under
  // Jest's vm context structuredClone's copies are not.
  const source = localDefinition(JSON.parse(JSON.stringify(definition)) as Definition, options.shardConcurrency ?? 2);
  const tasks = taskFunctions(source);
  const byName = new Map(allStates(source.States));
  for (const [name, functionKey] of Object.entries(tasks)) {
    byName.get(name)!.Resource = `arn:aws:lambda:local:000000000000:function:${functionKey}`;
  }
  const handlers: typeof TASK_HANDLERS = {
    ...TASK_HANDLERS,
    planAggregation: withShardItems(options.shardLimits === undefined ? planAggregation : createPlanHandler(() => ({ ...shardLimits(), ...options.shardLimits }))),
  };
  // Halting: once the halting task's handler has returned, the execution is aborted and every
  // later task fails before touching anything (a crash, as far as the database can tell).
  let halted: string | undefined;
  let abort: () => void = () => undefined;

  const visited: string[] = [];
  let lambdaInvocations = 0;
  const overrides = Object.fromEntries(
    Object.entries(tasks).map(([stateName, functionKey]) => {
      const handler = handlers[functionKey];
      if (handler === undefined) throw new Error(`No local handler for function ${functionKey} (state ${stateName})`);
      return [
        stateName,
        async (event: unknown) => {
          // Fails fast rather than hanging: a hanging task would hold its 60 s task timer.
          if (halted !== undefined) throw new Error(`halted after ${halted}; ${stateName} does not run`);
          lambdaInvocations += 1;
          const invoke = () => handler(event, lambdaContext(functionKey));
          let halting = false;
          const halt = () => {
            halting = true;
          };
          const output = options.aroundTask === undefined ? await invoke() : await options.aroundTask({ stateName, functionKey, event, invoke, halt });
          if (halting) {
            halted = stateName;
            setImmediate(() => abort());
          }
          return output as never;
        },
      ];
    }),
  );
  // Not validated per run: that takes about 2 s here, and the definition is fixed (the test of
  // state-machines/aggregation.json validates it once, and Step Functions does at deploy).
  const machine = new StateMachine(source as never, { validationOptions: { noValidate: true } });
  const execution = machine.run(input, {
    overrides: {
      taskResourceLocalHandlers: overrides,
      // Retries wait their real intervals on AWS; locally a failure should surface at once.
      retryIntervalOverrides: Object.fromEntries(Object.keys(tasks).map((name) => [name, 0])),
    },
    noThrowOnAbort: true,
  });
  abort = execution.abort;
  const logging = (async () => {
    for await (const event of execution.eventLogs as AsyncIterable<{ type: string; state?: { name: string } }>) {
      if (event.type === 'StateEntered' && event.state !== undefined) visited.push(event.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await logging;
    const counts = { statesEntered: visited.length, lambdaInvocations };
    if (halted !== undefined) return { status: 'HALTED', finalState: halted, ...counts };
    return { status: 'SUCCEEDED', finalState: visited.at(-1) ?? '', output, ...counts };
  } catch (error) {
    await logging.catch(() => undefined);
    const counts = { statesEntered: visited.length, lambdaInvocations };
    if (halted !== undefined) return { status: 'HALTED', finalState: halted, ...counts };
    return { status: 'FAILED', finalState: visited.at(-1) ?? '', error: error instanceof Error ? error.message : String(error), ...counts };
  }
}

/**
 * The local planning task's answer with `items`: the shard list the Distributed Map's ItemReader
 * reads on AWS, read here from the same object for the inline Map.
 */
function withShardItems(plan: (event: unknown, context: Context) => Promise<unknown>) {
  return async (event: unknown, context: Context) => {
    const output = (await plan(event, context)) as { mode: string; shard_list: string | null };
    if (output.mode !== 'sharded' || output.shard_list === null) return output;
    return { ...output, items: await pullShardItems(getObjectStore(), output.shard_list) };
  };
}

function lambdaContext(functionName: string): Context {
  return {
    functionName,
    functionVersion: '$LATEST',
    awsRequestId: `local-${Date.now()}`,
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 60_000,
  } as Context;
}
