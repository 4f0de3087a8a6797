import type { MiddlewareObj, Request } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { appendCorrelationKeys, logger } from './logger';
import { type MetricName, metrics, recordMetricBy } from './metrics';
import { tracer } from './tracing';

type AnyRequest = Request<unknown, unknown, Error, import("aws-lambda").Context, Record<string, unknown>>;

/** Where the handler wrapper keeps the error as it was thrown, before it is made an answer (`request.internal`). */
export const ORIGINAL_ERROR_KEY = 'fmaOriginalError';

/**
 * What every handler's invocation gets, outermost in its middleware chain: the Lambda context and
 * cold start on every log line (keys reset per invocation), metrics published when it ends, the
 * X-Ray segment when tracing is on, and one line saying how it ended: `answered` (HTTP, with the
 * status), `done` (a direct invocation), `refused` (4xx: the error's class and message, at INFO)
 * or `failed` (anything else: the error with its class, stack and cause, at ERROR). That line is
 * the only place an error is logged.
 */
export function observedInvocation(options: ObservationOptions = {}): MiddlewareObj[] {
  const chain: MiddlewareObj[] = [injectLambdaContext(logger, { resetKeys: true }) as MiddlewareObj, publishMetrics()];
  if (tracer !== undefined) {
    // Imported here, not at the top: only functions that trace load the tracer's middleware.
    const { captureLambdaHandler } = require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
    chain.push(captureLambdaHandler(tracer, { captureResponse: false }) as MiddlewareObj);
  }
  chain.push(invocationOutcome(options));
  return chain;
}

/**
 * Publishes what the invocation recorded when it ends, as Powertools' logMetrics does, but only
 * when it recorded something: most API calls record nothing, and Powertools warns on every empty
 * publication.
 */
function publishMetrics(): MiddlewareObj {
  const publish = () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: publish, onError: publish };
}

export interface ObservationOptions {
  /** A refusal (4xx) is counted as this metric, by `reason` (the error's class): a submission route's `UpdatesRefused`. */
  readonly refusalMetric?: MetricName;
}

function invocationOutcome({ refusalMetric }: ObservationOptions): MiddlewareObj {
  return {
    before: (request: AnyRequest) => {
      // Direct invocations (the state machine's tasks) name their model and run in the input.
      const input = request.event as { model?: unknown; run?: unknown } | null;
      if (input !== null && typeof input === 'object' && !('requestContext' in input)) {
        appendCorrelationKeys({
          model: typeof input.model === 'number' ? input.model : undefined,
          run: typeof input.run === 'string' ? input.run : undefined,
        });
      }
    },
    after: (request: AnyRequest) => {
      const status = (request.response as { statusCode?: unknown } | undefined)?.statusCode;
      if (typeof status === 'number') logger.info('answered', { status });
      else logger.info('done');
    },
    onError: (request: AnyRequest) => {
      const error = (request.internal[ORIGINAL_ERROR_KEY] ?? request.error) as (Error & { statusCode?: number }) | null;
      const answered = (request.response as { statusCode?: unknown } | undefined)?.statusCode;
      const status = typeof answered === 'number' ? answered : (request.error as { statusCode?: number } | null)?.statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        logger.info('refused', { status, error: { name: error?.name, message: error?.message } });
        if (refusalMetric !== undefined) recordMetricBy(refusalMetric, 'reason', error?.name ?? 'Error');
      } else {
        logger.error('failed', error ?? 'no error was given');
      }
    },
  };
}
