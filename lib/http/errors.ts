import { createError } from '@middy/util';
import { ZodError } from 'zod';
import { isDatabaseUnreachableError } from '../db/driver-errors';
import { DependencyError, FmaError } from '../errors';
import { validationErrorFromZod } from '../errors/from-zod';

/** Our error for anything we can name (a zod failure is a 400, not middy's 500); others unchanged. */
export function toFmaError(error: unknown): unknown {
  if (error instanceof ZodError) return validationErrorFromZod(error);
  // A dropped or unreachable database is a 503 to HTTP callers and a retried DependencyError to
  // the state machine, not a bare 500 or an error name no Retry matches.
  if (isDatabaseUnreachableError(error)) return new DependencyError('The database could not be reached.', { cause: error });
  return error;
}

/** The JSON body of an error response: `{error, message, details}` unless the error brings its own. */
export function errorBody(error: FmaError): unknown {
  if (error.body !== undefined) return error.body;
  return {
    error: error.name,
    message: error.message,
    ...(error.details.length > 0 ? { details: error.details } : {}),
  };
}

/**
 * Turns one of our errors into the http error middy's http-error-handler renders: the message is
 * the JSON body, so the handler sends it as `application/json`.
 */
export function toMiddyHttpError(error: unknown, bodyOf: (error: FmaError) => unknown = errorBody): unknown {
  const translated = toFmaError(error);
  if (!(translated instanceof FmaError) || !translated.expose) return translated;
  const httpError = createError(translated.statusCode, JSON.stringify(bodyOf(translated)), { expose: true, cause: translated });
  // http-error-handler sends the error's `headers` (createError itself keeps only `expose` and `cause`).
  return Object.assign(httpError, { headers: { ...translated.headers } });
}

/** The body http-error-handler sends for errors it must not expose (500s). */
export const INTERNAL_ERROR_BODY = JSON.stringify({
  error: 'InternalError',
  message: 'Internal server error',
});
