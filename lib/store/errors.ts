import { S3ServiceException } from '@aws-sdk/client-s3';
import { ConfigurationError, DependencyError, NotFoundError, ValidationError, type FmaErrorOptions } from '../errors';

/** The object store has no object under this key (HTTP 404, like the project's NotFoundError). */
export class ObjectNotFoundError extends NotFoundError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'ObjectNotFoundError';
  }
  readonly key: string;
  constructor(key: string, options?: FmaErrorOptions) {
    super(`No object under key "${key}".`, options);
    this.key = key;
  }
}

/**
 * Turns an S3 SDK failure into one of the project's errors, keeping the original as `cause`:
 * no such key → ObjectNotFoundError; no such bucket or access denied → ConfigurationError (a
 * deployment problem, not worth retrying); a range outside the object → ValidationError; the
 * server unreachable, timing out or answering 5xx → DependencyError (retryable). Anything else is
 * returned unchanged.
 */
export function translateS3Error(error: unknown, bucket: string, key?: string): unknown {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata?.httpStatusCode ?? 0;
    if (error.name === 'NoSuchBucket') {
      return new ConfigurationError(`The object store has no bucket "${bucket}".`, { cause: error });
    }
    if (error.name === 'NoSuchKey' || (status === 404 && key !== undefined && error.name === 'NotFound')) {
      return new ObjectNotFoundError(key ?? '', { cause: error });
    }
    if (error.name === 'InvalidRange' || status === 416) {
      return new ValidationError(`The range is outside the object "${key ?? ''}".`, { cause: error });
    }
    if (status === 403 || error.name === 'AccessDenied' || error.name === 'InvalidAccessKeyId') {
      return new ConfigurationError(`The object store refused access to bucket "${bucket}".`, { cause: error });
    }
    if (status >= 500 || error.$retryable !== undefined || error.$fault === 'server') {
      return new DependencyError('The object store failed to answer.', { cause: error });
    }
    return error;
  }
  if (isTransient(error)) return new DependencyError('The object store could not be reached.', { cause: error });
  return error;
}

const transientCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

function isTransient(error: unknown, depth = 0): boolean {
  // Not `instanceof Error`: Node's socket errors may come from another realm (Jest's sandbox).
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const { code, name, cause, errors, message } = error as {
    code?: unknown;
    name?: unknown;
    cause?: unknown;
    errors?: unknown;
    message?: unknown;
  };
  if (typeof code === 'string' && transientCodes.has(code)) return true;
  // The SDK wraps what is not `instanceof Error` (a socket error from Jest's other realm) in a
  // plain Error whose message alone keeps the code.
  if (typeof message === 'string' && message.startsWith('AWS SDK error wrapper for')) {
    if ([...transientCodes].some((transient) => message.includes(transient))) return true;
  }
  if (name === 'TimeoutError' || name === 'RequestTimeout') return true;
  // Aggregated connection errors (happy eyeballs) carry the codes one level down.
  if (Array.isArray(errors) && errors.some((inner) => isTransient(inner, depth + 1))) return true;
  return cause !== undefined && cause !== error && isTransient(cause, depth + 1);
}
