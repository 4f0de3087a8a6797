import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import httpEvent from '../fixtures/events/http-api-post.json';

/**
 * An API Gateway (HTTP API v2) event as the gateway hands a request to a function: `/api/v1/...`
 * paths through the router's `ANY /api/v1/{proxy+}` route, others through their own route.
 * `body` is passed as given: a string as API Gateway sends it, or another value as
 * serverless-offline passes a bare JSON scalar.
 */
export function apiGatewayEvent(request: {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  query?: string;
}): APIGatewayProxyEventV2 {
  const { method, path, headers, body, query = '' } = request;
  const routeKey = path.startsWith('/api/v1/') ? 'ANY /api/v1/{proxy+}' : `${method} ${path}`;
  return {
    ...httpEvent,
    routeKey,
    rawPath: path,
    rawQueryString: query,
    headers,
    requestContext: { ...httpEvent.requestContext, routeKey, http: { ...httpEvent.requestContext.http, method, path } },
    pathParameters: path.startsWith('/api/v1/') ? { proxy: path.slice('/api/v1/'.length) } : undefined,
    queryStringParameters: query === '' ? undefined : Object.fromEntries(new URLSearchParams(query)),
    body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}
