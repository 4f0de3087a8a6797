import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const RESPONSE = Symbol('fma.httpResponse');

/** A handler result with its own status code (anything else a handler returns is a 200). */
export interface HttpResult {
  readonly [RESPONSE]: true;
  readonly statusCode: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Answers with `statusCode` and `body` serialized as JSON. */
export function respond(statusCode: number, body: unknown, headers?: Record<string, string>): HttpResult {
  return { [RESPONSE]: true, statusCode, body, ...(headers === undefined ? {} : { headers }) };
}

export function isHttpResult(value: unknown): value is HttpResult {
  return typeof value === 'object' && value !== null && RESPONSE in value;
}

/** The API Gateway response for a handler result. */
export function toHttpResponse(result: unknown): APIGatewayProxyStructuredResultV2 {
  const { statusCode, body, headers } = isHttpResult(result) ? result : respond(200, result);
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}
