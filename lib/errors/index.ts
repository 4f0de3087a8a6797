/**
 * The project's errors. Each has a `statusCode` and `expose` (the shape middy's
 * http-error-handler understands) and a literal `name`: Step Functions `Retry`/`Catch` rules match
 * on it, so it must survive minification and never be derived from the class name.
 */
export interface ErrorDetail {
  /** Dotted path of the offending input field, or '' for the input as a whole. */
  readonly field: string;
  readonly message: string;
}

export interface FmaErrorOptions {
  cause?: unknown;
  details?: readonly ErrorDetail[];
  /** A response body to send instead of the default `{error, message, details}` (API compatibility). */
  body?: unknown;
  /** Response headers the error's answer carries (`Retry-After`). */
  headers?: Readonly<Record<string, string>>;
}

export class FmaError extends Error {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'FmaError';
  }
  readonly statusCode: number;
  readonly expose: boolean;
  readonly details: readonly ErrorDetail[];
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(statusCode: number, message: string, options: FmaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = statusCode;
    this.expose = statusCode < 500;
    this.details = options.details ?? [];
    this.body = options.body;
    this.headers = options.headers ?? {};
  }
}

/** The input is malformed or breaks a rule; nothing was changed. */
export class ValidationError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'ValidationError';
  }
  constructor(message: string, options?: FmaErrorOptions) {
    super(400, message, options);
  }
}

/** No credentials, or credentials that match nobody. */
export class UnauthorizedError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'UnauthorizedError';
  }
  constructor(message = 'Authentication credentials were not provided or are invalid.', options?: FmaErrorOptions) {
    super(401, message, options);
  }
}

/** Known caller, not allowed to do this. */
export class ForbiddenError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'ForbiddenError';
  }
  constructor(message = 'You do not have permission to perform this action.', options?: FmaErrorOptions) {
    super(403, message, options);
  }
}

/** An entity the operation needs does not exist (or is not the caller's to see). */
export class NotFoundError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'NotFoundError';
  }
  constructor(message: string, options?: FmaErrorOptions) {
    super(404, message, options);
  }
}

/** The request conflicts with the stored state (a duplicate, a lost race). */
export class ConflictError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'ConflictError';
  }
  constructor(message: string, options?: FmaErrorOptions) {
    super(409, message, options);
  }
}

/** A dependency (the database) did not answer; the call may succeed if retried. */
export class DependencyError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'DependencyError';
  }
  constructor(message: string, options?: FmaErrorOptions) {
    super(503, message, options);
  }
}

/** A request body larger than the service takes (413). */
export class PayloadTooLargeError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'PayloadTooLargeError';
  }
  constructor(message: string, options?: FmaErrorOptions) {
    super(413, message, options);
  }
}

/** The caller is past a limit for now (429); `Retry-After` says when to try again. */
export class TooManyRequestsError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'TooManyRequestsError';
  }
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: FmaErrorOptions) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super(429, message, { ...options, headers: { ...options?.headers, 'Retry-After': String(seconds) } });
    this.retryAfterSeconds = seconds;
  }
}

/** The service is deployed with settings it cannot run with. */
export class ConfigurationError extends FmaError {
  static {
    // On the prototype, so that the stack header (computed at construction) carries it too.
    this.prototype.name = 'ConfigurationError';
  }
  constructor(message: string, options?: FmaErrorOptions) {
    super(500, message, options);
  }
}

/** An aggregation that cannot be computed from its inputs (empty, mismatched shapes, ...). */
export class AggregationError extends ValidationError {
  static {
    this.prototype.name = 'AggregationError';
  }
}
