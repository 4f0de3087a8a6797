import {
  executeAggregationLocally as execute,
  taskFunctions,
  type LocalExecutionOptions as ExecutorOptions,
  type LocalExecutionResult,
  type TaskCall,
} from '../../functions/aggregation/local-executor';
import { closeMongoClient } from '../../lib/db/client';
import { DependencyError } from '../../lib/errors';

export type { LocalExecutionResult } from '../../functions/aggregation/local-executor';

/** The local executor's options, and the faults tests and benches inject through its `aroundTask`. */
export interface LocalExecutionOptions extends ExecutorOptions {
  /** Stop the run right after this Task state, as if it had crashed there (tests of recovery). */
  readonly haltAfter?: string;
  /** These Task states throw before doing anything, as a task whose Lambda failed would. */
  readonly failBefore?: readonly string[];
  /** These Task states do their work, then throw (the answer was lost). */
  readonly failAfter?: readonly string[];
  /**
   * The handlers' database connection is closed while the first attempt of each of these Task
   * states is at work, as a dropped connection would end it.
   */
  readonly dropConnectionIn?: readonly string[];
  /** The first n invocations of each of these Task states throw a DependencyError, the kind the states' Retry policies retry. */
  readonly transientFailures?: Readonly<Record<string, number>>;
}

/**
 * Runs the aggregation state machine in-process (functions/aggregation/local-executor.ts) with the
 * faults `options` name injected around its tasks.
 */
export function executeAggregationLocally(input: { model: number; run: string }, options: LocalExecutionOptions = {}): Promise<LocalExecutionResult> {
  const { haltAfter, failBefore = [], failAfter = [], dropConnectionIn = [], transientFailures = {}, ...executorOptions } = options;
  const tasks = taskFunctions();
  for (const state of [...(haltAfter === undefined ? [] : [haltAfter]), ...failBefore, ...failAfter, ...dropConnectionIn, ...Object.keys(transientFailures)]) {
    if (tasks[state] === undefined) return Promise.reject(new Error(`No Task state ${state} in the aggregation state machine`));
  }
  const faulty = haltAfter !== undefined || failBefore.length + failAfter.length + dropConnectionIn.length + Object.keys(transientFailures).length > 0;
  if (!faulty) return execute(input, executorOptions);
  const transient = new Map(Object.entries(transientFailures));
  const dropped = new Set<string>();
  const aroundTask = async (call: TaskCall): Promise<unknown> => {
    const { stateName } = call;
    if (failBefore.includes(stateName)) throw new Error(`injected failure before ${stateName}`);
    const left = transient.get(stateName) ?? 0;
    if (left > 0) {
      transient.set(stateName, left - 1);
      throw new DependencyError(`injected transient failure of ${stateName}`);
    }
    if (dropConnectionIn.includes(stateName) && !dropped.has(stateName)) {
      dropped.add(stateName);
      setImmediate(() => void closeMongoClient());
    }
    const output = executorOptions.aroundTask === undefined ? await call.invoke() : await executorOptions.aroundTask(call);
    if (failAfter.includes(stateName)) throw new Error(`injected failure after ${stateName}`);
    if (stateName === haltAfter) call.halt();
    return output;
  };
  return execute(input, { ...executorOptions, aroundTask });
}
