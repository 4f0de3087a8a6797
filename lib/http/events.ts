import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * True for an API Gateway HTTP API (payload 2.0) event, as API Gateway and serverless-offline
 * send it. Anything else is a direct invocation (Step Functions, the SDK's `Invoke`) whose event
 * is the input object itself.
 */
export function isHttpApiEvent(event: unknown): event is APIGatewayProxyEventV2 {
  if (typeof event !== 'object' || event === null) return false;
  const candidate = event as Partial<APIGatewayProxyEventV2>;
  return (
    typeof candidate.routeKey === 'string' &&
    typeof candidate.requestContext === 'object' &&
    candidate.requestContext !== null &&
    typeof candidate.requestContext.http === 'object'
  );
}

/** Case-insensitive header lookup (API Gateway lower-cases names; serverless-offline may not). */
export function headerValue(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
