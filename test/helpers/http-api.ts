import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { settleLocalRuns } from '../../lib/aggregation/start-run';
import { apiGatewayEvent } from './api-gateway-event';

/** What an HTTP call answered: the status and the parsed JSON body (undefined when empty). */
export interface ApiReply {
  status: number;
  headers: Headers;
  body: any;
}

export interface ApiCallOptions {
  /** A developer's token (`Authorization: Token <token>`). */
  token?: string;
  /** A client's credential (`CLIENT-UUID`). */
  client?: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Sent as given instead of `body` (in-process calls only): a string as API Gateway sends it, or
   * another value as serverless-offline passes a bare JSON scalar.
   */
  raw?: unknown;
}

/**
 * One way for end-to-end tests to call the service over real HTTP: `api(method, path, options)`
 * against `baseUrl()` (a function, so it can be made before the service has started).
 */
export function httpApi(baseUrl: () => string) {
  return async function api(method: string, path: string, options: ApiCallOptions = {}): Promise<ApiReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.token !== undefined) headers.authorization = `Token ${options.token}`;
    if (options.client !== undefined) headers['CLIENT-UUID'] = options.client;
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
  };
}

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/**
 * The same `api(method, path, options)` for integration tests, in-process: each call is an API
 * Gateway event (test/helpers/api-gateway-event.ts) given to the handler `handlerFor(path)` names
 * (the router for `/api/v1/...`), and is taken to its end, the local runs it started included.
 * `path` may carry a query (`?page=2`).
 */
export function handlerApi(handlerFor: (path: string) => unknown) {
  const context = { functionName: 'api', awsRequestId: 'test-request' } as Context;
  return async function api(method: string, route: string, options: ApiCallOptions = {}): Promise<ApiReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json', host: 'api.example.com', ...options.headers };
    if (options.token !== undefined) headers.authorization = `Token ${options.token}`;
    if (options.client !== undefined) headers['client-uuid'] = options.client;
    const [path, query] = route.split('?') as [string, string | undefined];
    const body = 'raw' in options ? options.raw : options.body === undefined ? undefined : JSON.stringify(options.body);
    const event = apiGatewayEvent({ method, path, headers, body, query });
    // A context of its own, as Lambda gives each invocation: the handler wrapper keeps the raw event on it, so concurrent calls must not share one.
    const response = (await (handlerFor(path) as Handler)(event, { ...context })) as APIGatewayProxyStructuredResultV2;
    // Runs go on in the background; each request here is taken to its end, runs included.
    await settleLocalRuns();
    const text = typeof response.body === 'string' ? response.body : '';
    const replyHeaders = new Headers(Object.entries(response.headers ?? {}).map(([name, value]) => [name, String(value)]));
    return { status: response.statusCode!, headers: replyHeaders, body: text === '' ? undefined : JSON.parse(text) };
  };
}
