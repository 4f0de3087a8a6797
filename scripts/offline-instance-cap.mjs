// Loaded into serverless offline's process (`node --import`, scripts/offline.ts): at most
// FMA_OFFLINE_MAX_INSTANCES instances of each function at once (issue #25); a request that finds
// them all busy waits for one to finish instead of starting another.
//
// Why: serverless-offline starts a function instance (a worker thread: a V8 isolate, the whole
// bundle loaded, a MongoClient connected) for every request that finds each instance busy, and
// starts the Lambda timeout (15 s) before that cold start. On AWS each instance has a machine of its
// own; here 50 clients arriving at once start 50 cold starts on 2 cores, each loading a 2.3 MB
// bundle (about 0.2 s of CPU alone, 6 s for 50 at once) while the database and the other
// instances want the same cores. Cold starts then outlast the timeout, serverless-offline
// terminates the worker that timed out, and the client's retry meets a cold start again: measured,
// 63 to 196 of 400 submissions and most registrations timed out that way, while the database's
// part of a request stayed in the milliseconds (bench/submission-burst.ts). With the cap, a burst
// waits in the queue (which the client sees in its latency, not in the Lambda timeout) and runs on
// warm instances.
//
// The pool is serverless-offline's own class; its `get` is wrapped here, in its prototype, before
// the plugin is loaded (one module instance: the plugin's imports resolve to the same file). Worker
// threads inherit `--import`; only the main thread wraps anything.
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

const DEFAULT_MAX_INSTANCES = Math.max(4, 2 * os.availableParallelism());

if (isMainThread) {
  const setting = process.env.FMA_OFFLINE_MAX_INSTANCES;
  const cap = setting === undefined || setting === '' ? DEFAULT_MAX_INSTANCES : Number(setting);
  if (!Number.isInteger(cap) || cap < 0) throw new Error(`FMA_OFFLINE_MAX_INSTANCES must be a whole number (0: no cap), not ${setting}`);
  if (cap > 0) await capInstances(cap);
}

async function capInstances(cap) {
  const require = createRequire(import.meta.url);
  const source = path.dirname(realpathSync(require.resolve('serverless-offline')));
  const { default: LambdaFunctionPool } = await import(pathToFileURL(path.join(source, 'lambda', 'LambdaFunctionPool.js')).href);
  const originalGet = LambdaFunctionPool.prototype.get;
  /** Per function: its instances, and the requests waiting for one. */
  const functions = new Map();

  const stateOf = (functionKey) => {
    let state = functions.get(functionKey);
    if (state === undefined) {
      state = { instances: new Set(), waiting: [] };
      functions.set(functionKey, state);
    }
    return state;
  };

  /** Wakes the longest waiting request of the function, which then tries again. */
  const wakeOne = (state) => state.waiting.shift()?.();

  /** Counts an instance and learns when it is free again or cleaned up. */
  const track = (state, instance) => {
    if (state.instances.has(instance)) return instance;
    state.instances.add(instance);
    const run = instance.runHandler.bind(instance);
    instance.runHandler = async () => {
      try {
        return await run();
      } finally {
        wakeOne(state);
      }
    };
    const cleanup = instance.cleanup.bind(instance);
    instance.cleanup = async () => {
      state.instances.delete(instance);
      wakeOne(state);
      return cleanup();
    };
    return instance;
  };

  /**
   * An idle instance, a new one below the cap, or null. A new request does not pass requests that
   * are waiting (`waited`: this one is one of them, woken).
   */
  function tryGet(pool, functionKey, functionDefinition, waited) {
    const state = stateOf(functionKey);
    if (!waited && state.waiting.length > 0) return null;
    const idle = [...state.instances].some((instance) => instance.status === 'IDLE');
    if (!idle && state.instances.size >= cap) return null;
    // serverless-offline's own choice: an idle instance when it has one, else a new one.
    return track(state, originalGet.call(pool, functionKey, functionDefinition));
  }

  LambdaFunctionPool.prototype.get = function get(functionKey, functionDefinition) {
    const now = tryGet(this, functionKey, functionDefinition, false);
    if (now !== null) return now;
    // All instances busy: a stand-in with the calls serverless-offline makes on an instance
    // (setClientContext, setEvent, runHandler), which waits for a free one when it is run.
    const pool = this;
    let event;
    let clientContext;
    let hasClientContext = false;
    return {
      setEvent(value) {
        event = value;
      },
      setClientContext(value) {
        clientContext = value;
        hasClientContext = true;
      },
      async runHandler() {
        const { waiting } = stateOf(functionKey);
        // First in line at the back; woken but beaten to the instance, at the front again.
        await new Promise((resolve) => waiting.push(resolve));
        for (;;) {
          const instance = tryGet(pool, functionKey, functionDefinition, true);
          if (instance !== null) {
            // Taken in the same turn as found (runHandler marks it busy at once), so no other
            // request can take it in between; the next in line may find another.
            wakeOne(stateOf(functionKey));
            if (hasClientContext) instance.setClientContext(clientContext);
            instance.setEvent(event);
            return instance.runHandler();
          }
          await new Promise((resolve) => waiting.unshift(resolve));
        }
      },
    };
  };
}
