import { Logger } from '@aws-lambda-powertools/logger';

/** The name every log line, metric and trace of the service carries (POWERTOOLS_SERVICE_NAME overrides it). */
export const SERVICE_NAME = 'fma-serverless';

/**
 * The service's one logger: JSON lines with the function, cold start, request id and the keys a
 * handler appends (model, run, update, the client's public id). Its level is POWERTOOLS_LOG_LEVEL
 * (INFO by default) and POWERTOOLS_LOGGER_SAMPLE_RATE sends that share of invocations at DEBUG;
 * Powertools reads both itself. Never give it a credential, token, join secret, presigned URL or
 * connection string: nothing here logs a request's headers, body or event.
 */
export const logger = new Logger({ serviceName: SERVICE_NAME });

/** What is known about the current request, for every line logged while it is handled. */
export interface CorrelationKeys {
  readonly model?: number;
  readonly run?: string;
  readonly update?: number;
  readonly upload?: string;
  /** A client's public id, never its credential. */
  readonly client?: string;
  readonly developer?: string;
}

/** Adds correlation keys to the lines of the current invocation (cleared when it ends). */
export function appendCorrelationKeys(keys: CorrelationKeys): void {
  const defined = Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined));
  if (Object.keys(defined).length > 0) logger.appendKeys(defined);
}
