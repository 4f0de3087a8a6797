import type { ZodError } from 'zod';
import { ValidationError, type ErrorDetail } from './index';

/** A zod failure as the ValidationError (400) it is, naming each offending field. */
export function validationErrorFromZod(error: ZodError, what = 'input'): ValidationError {
  const details: ErrorDetail[] = error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const summary = details.map((d) => (d.field === '' ? d.message : `${d.field}: ${d.message}`)).join('; ');
  return new ValidationError(`Invalid ${what}: ${summary}`, { details, cause: error });
}
