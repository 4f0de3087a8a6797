import middy, { type MiddlewareObj, type Request } from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { PayloadTooLargeError, ValidationError, type FmaError } from '../errors';
import { validationErrorFromZod } from '../errors/from-zod';
import { INTERNAL_ERROR_BODY, toFmaError, toMiddyHttpError } from './errors';
import { headerValue, isHttpApiEvent } from './events';
import { type MetricName, ORIGINAL_ERROR_KEY, observedInvocation } from '../observability';
import { toHttpResponse } from './response';
import { recordRunStates } from './run-recording';

type InvocationMode = 'http' | 'direct';
type AnyRequest = Request<unknown, unknown, Error, Context, Record<string, unknown>>;

const MODE = 'fmaInvocationMode';

/**
 * The shared middleware order for every handler: error handling outermost (middy runs `onError`
 * in reverse), then mode detection and input parsing, then validation, then the handler.
 *
 * - HTTP API events: the input is the JSON body (or what `fromHttpEvent` takes from the event);
 *   results are JSON responses; errors are JSON bodies with their status (4xx), or a bare 500.
 * - Direct invocations (Step Functions, SDK `Invoke`): the event is the input; results are
 *   returned as they are; errors are thrown with a literal `name` that state machines can catch.
 */
export interface HandlerOptions<Schema extends z.ZodType> {
  /** Validates and types the input. */
  readonly input: Schema;
  /** Builds the raw input from an HTTP event; by default the JSON body. */
  readonly fromHttpEvent?: (event: APIGatewayProxyEventV2) => unknown;
  /** Accept HTTP API events only (API routes that read headers and paths). */
  readonly httpOnly?: boolean;
  /** The JSON body of an error response; by default `{error, message, details}`. */
  readonly errorBody?: (error: FmaError) => unknown;
  /** Refusals (4xx) are counted as this metric, by reason (the submission routes' `UpdatesRefused`). */
  readonly refusalMetric?: MetricName;
}

export function createHandler<Schema extends z.ZodType, Result>(
  options: HandlerOptions<Schema>,
  run: (input: z.output<Schema>, event: unknown) => Promise<Result>,
) {
  return middy<unknown, unknown, Error, Context>()
    .use(observedInvocation({ refusalMetric: options.refusalMetric }))
    .use(httpErrors())
    .use(invocationModes(options.errorBody))
    // After the mode is known, before the input is validated (it takes run_record out); its onError
    // sees the handler's own error, before the mode translates it.
    .use(recordRunStates())
    .use(parseInput(options))
    .handler(async (event, context) => run(event as z.output<Schema>, (context as ContextWithRaw).rawEvent));
}

interface ContextWithRaw extends Context {
  rawEvent?: unknown;
}

/**
 * Errors as HTTP answers, for HTTP API events only: a direct invocation's error is thrown as it is
 * (invocationModes), for the state machine to catch by name. Nothing is logged here: the
 * invocation's outcome is logged once, by observedInvocation.
 */
function httpErrors(): MiddlewareObj {
  const { onError } = httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR_BODY });
  return {
    onError: (request: AnyRequest) => {
      if (request.internal[MODE] === 'direct') return;
      return onError!(request as never);
    },
  };
}

/** Detects the mode; shapes results and errors for it. */
function invocationModes(errorBody?: (error: FmaError) => unknown): MiddlewareObj {
  return {
    before: (request: AnyRequest) => {
      request.internal[MODE] = (isHttpApiEvent(request.event) ? 'http' : 'direct') satisfies InvocationMode;
      (request.context as ContextWithRaw).rawEvent = request.event;
    },
    after: (request: AnyRequest) => {
      if (request.internal[MODE] === 'http') request.response = toHttpResponse(request.response);
    },
    onError: (request: AnyRequest) => {
      // The error as the handler threw it, for the log (observedInvocation): what follows replaces it.
      request.internal[ORIGINAL_ERROR_KEY] = request.error;
      const mode = (request.internal[MODE] ??= isHttpApiEvent(request.event) ? 'http' : 'direct');
      // Thrown by middy once every onError has run (the outer ones log it and publish metrics).
      if (mode === 'direct') {
        request.error = toFmaError(request.error) as Error;
        return;
      }
      // http-error-handler (registered before this, so running after it) renders the response.
      request.error = toMiddyHttpError(request.error, errorBody) as Error;
    },
  };
}

function parseInput<Schema extends z.ZodType>(options: HandlerOptions<Schema>): MiddlewareObj {
  return {
    before: (request: AnyRequest) => {
      let raw: unknown = request.event;
      if (request.internal[MODE] === 'http') {
        const event = request.event as APIGatewayProxyEventV2;
        raw = (options.fromHttpEvent ?? jsonBody)(event);
      } else if (options.httpOnly === true) {
        throw new ValidationError('This function serves HTTP API requests only');
      }
      const parsed = options.input.safeParse(raw);
      if (!parsed.success) throw validationErrorFromZod(parsed.error);
      request.event = parsed.data;
    },
  };
}

/**
 * The request body parsed as JSON; an absent body is `{}`. Not @middy/http-json-body-parser: that
 * one answers malformed JSON with 415 and a text body, and only knows HTTP events, while our
 * handlers serve direct invocations too and owe the caller a 400 with a JSON body.
 */
/**
 * The largest JSON body taken: Lambda refuses synchronous payloads over 6 MB, event included, so a
 * larger body would fail with a bare 413 from the platform instead of a message that helps.
 */
export const MAX_JSON_BODY_BYTES = 5 * 1024 * 1024;

export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const body: unknown = event.body;
  // API Gateway always passes a string; serverless-offline passes a JSON body that is a bare
  // scalar (`false`, `0`) parsed, and the JSON `null` as null, like no body at all; its
  // Content-Length tells the two apart. Either way the value is judged by the same rules.
  if (body === null && Number(headerValue(event, 'content-length') ?? 0) > 0) return null;
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'string') return body;
  const text = event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  const size = Buffer.byteLength(text);
  if (size > MAX_JSON_BODY_BYTES) {
    throw new PayloadTooLargeError(
      `The request body is ${size} bytes; a JSON body may be at most ${MAX_JSON_BODY_BYTES} bytes (Lambda takes at most ` +
        '6 MB per request). Send large weights as binary: POST /api/v1/model_updates/uploads/ declares an update and ' +
        'answers a URL to PUT its bytes to.',
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`The request body is not valid JSON: ${(error as Error).message}`, {
      details: [{ field: '', message: 'malformed JSON' }],
    });
  }
}
