import { createError } from '@middy/util';
import { ZodError } from 'zod';
import { FmaError, ValidationError, type ErrorDetail } from '../errors';

/** A zod failure as the 400 it is (left alone, middy would answer 500). */
export function validationErrorFromZod(error: ZodError, what = 'input'): ValidationError {
  const details: ErrorDetail[] = error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const summary = details.map((d) => (d.field === '' ? d.message : `${d.field}: ${d.message}`)).join('; ');
  return new ValidationError(`Invalid ${what}: ${summary}`, { details, cause: error });
}

/** Our error for anything we can name; other errors are returned unchanged. */
export function toFmaError(error: unknown): unknown {
  if (error instanceof ZodError) return validationErrorFromZod(error);
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
export function toMiddyHttpError(error: unknown): unknown {
  const translated = toFmaError(error);
  if (!(translated instanceof FmaError) || !translated.expose) return translated;
  return createError(translated.statusCode, JSON.stringify(errorBody(translated)), {
    expose: true,
    cause: translated,
  });
}

/** The body http-error-handler sends for errors it must not expose (500s). */
export const INTERNAL_ERROR_BODY = JSON.stringify({
  error: 'InternalError',
  message: 'Internal server error',
});
