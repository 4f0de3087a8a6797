import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import httpRouterHandler, { type Method } from '@middy/http-router';
import { createError } from '@middy/util';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';

type RouteHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;

/** A route whose handler's module is loaded on its first request: `load` yields the handler (with its contract). */
export interface ApiRoute {
  readonly method: Method;
  readonly path: string;
  readonly handler: RouteHandler;
  readonly load: () => Promise<unknown>;
}

/**
 * A route of the table below. Its module (the handler, its zod schemas, what it imports beyond the
 * router) is loaded when the route is first asked for, not when the function starts: a container
 * builds the schemas of the routes it serves only (bench/function-init.ts, README: Figures).
 */
function route(method: Method, path: string, load: () => Promise<unknown>): ApiRoute {
  let loading: Promise<RouteHandler> | undefined;
  const loaded = () =>
    (loading ??= (load() as Promise<RouteHandler>).catch((error: unknown) => {
      loading = undefined; // a module that failed to load is tried again by the next request
      throw error;
    }));
  const handler: RouteHandler = async (event, context) => (await loaded())(event, context);
  return { method, path, handler, load };
}

/**
 * FMA's REST API (`/api/v1/...`) as one Lambda behind `ANY /api/v1/{proxy+}`: middy's router
 * picks the handler (one per file beside this one) and accepts every path with or without its
 * trailing slash, as FMA's Django routes did. One function rather than one per route, because
 * a route and its slash-suffixed twin cannot both be declared to serverless-offline.
 */
export const routes: readonly ApiRoute[] = [
  route('POST', '/api/v1/models', async () => (await import('./create-model')).handler),
  route('GET', '/api/v1/models', async () => (await import('./list-models')).handler),
  route('GET', '/api/v1/models/{id}', async () => (await import('./get-model')).handler),
  route('PUT', '/api/v1/models/{id}', async () => (await import('./update-model')).putHandler),
  route('PATCH', '/api/v1/models/{id}', async () => (await import('./update-model')).patchHandler),
  route('DELETE', '/api/v1/models/{id}', async () => (await import('./delete-model')).handler),
  route('POST', '/api/v1/models/{id}/register_client', async () => (await import('./register-client')).handler),
  route('GET', '/api/v1/models/{id}/clients', async () => (await import('./list-model-clients')).handler),
  route('GET', '/api/v1/models/{id}/runs', async () => (await import('./list-model-runs')).handler),
  route('GET', '/api/v1/models/{id}/runs/{name}', async () => (await import('./get-model-run')).handler),
  route('GET', '/api/v1/models/{id}/secure_round', async () => (await import('./get-secure-round')).handler),
  route('POST', '/api/v1/models/{id}/secure_round/keys', async () => (await import('./advertise-secure-round-keys')).handler),
  route('POST', '/api/v1/models/{id}/secure_round/shares', async () => (await import('./submit-secure-round-shares')).handler),
  route('GET', '/api/v1/models/{id}/secure_round/shares', async () => (await import('./get-secure-round-shares')).handler),
  route('POST', '/api/v1/models/{id}/secure_round/masked_input', async () => (await import('./declare-masked-input')).handler),
  route('POST', '/api/v1/models/{id}/secure_round/masked_input/complete', async () => (await import('./complete-masked-input')).handler),
  route('POST', '/api/v1/models/{id}/secure_round/reveal', async () => (await import('./reveal-secure-round-shares')).handler),
  route('GET', '/api/v1/models/{id}/get_latest_aggregate', async () => (await import('./get-latest-aggregate')).handler),
  route('GET', '/api/v1/models/{id}/get_current_artifact', async () => (await import('./get-current-artifact')).handler),
  route('GET', '/api/v1/models/{id}/get_latest_model', async () => (await import('./get-latest-model')).handler),
  route('GET', '/api/v1/models/{id}/get_latest_model/weights', async () => (await import('./get-latest-model-weights')).handler),
  route('POST', '/api/v1/model_updates', async () => (await import('./create-model-update')).handler),
  route('POST', '/api/v1/model_updates/uploads', async () => (await import('./create-model-update-upload')).handler),
  route('POST', '/api/v1/model_updates/uploads/{upload}/complete', async () => (await import('./complete-model-update-upload')).handler),
  route('GET', '/api/v1/model_updates', async () => (await import('./list-model-updates')).handler),
  route('GET', '/api/v1/model_updates/{id}', async () => (await import('./get-model-update')).handler),
  route('GET', '/api/v1/model_updates/{id}/weights', async () => (await import('./get-model-update-weights')).handler),
  route('GET', '/api/v1/model_aggregates', async () => (await import('./list-model-aggregates')).handler),
  route('GET', '/api/v1/model_aggregates/{id}', async () => (await import('./get-model-aggregate')).handler),
  route('GET', '/api/v1/model_aggregates/{id}/weights', async () => (await import('./get-aggregate-weights')).handler),
  route('PATCH', '/api/v1/model_aggregates/{id}', async () => (await import('./patch-model-aggregate')).handler),
  route('POST', '/api/v1/model_aggregates/{id}/publish_aggregate', async () => (await import('./publish-aggregate')).handler),
  route('POST', '/api/v1/client_aggregate_scores', async () => (await import('./create-client-aggregate-score')).handler),
  route('GET', '/api/v1/client_aggregate_scores', async () => (await import('./list-client-aggregate-scores')).handler),
  route('GET', '/api/v1/client_aggregate_scores/{id}', async () => (await import('./get-client-aggregate-score')).handler),
  route('GET', '/api/v1/openapi.json', async () => (await import('./get-openapi')).handler),
];

/** Each route's path as a pattern (`{id}` matches one segment; the trailing slash is optional). */
const routePatterns = routes.map((r) => ({
  method: r.method,
  pattern: new RegExp(`^${r.path.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
}));

/** The methods some route takes at this path (none: the path is unknown). */
function methodsAt(path: string): string[] {
  return [...new Set(routePatterns.filter((r) => r.pattern.test(path)).map((r) => r.method))];
}

/** A path that a route names literally (`/api/v1/model_updates/uploads`) → the methods it takes. */
const literalPaths = new Map<string, string[]>();
for (const r of routes) if (!r.path.includes('{')) literalPaths.set(r.path, [...(literalPaths.get(r.path) ?? []), r.method]);

/**
 * A method that a literal path does not take is 405 there, even if a parameterised route would
 * take the path as a parameter (`GET /model_updates/uploads/` is not the update with id
 * "uploads"), as Django resolves its literal routes first.
 */
function refuseOtherMethodsOnLiteralPaths(event: APIGatewayProxyEventV2): void {
  const methods = literalPaths.get((event.rawPath ?? '').replace(/\/$/, ''));
  const method = event.requestContext?.http?.method ?? '';
  if (methods !== undefined && !methods.includes(method)) {
    throw Object.assign(createError(405, JSON.stringify({ detail: `Method "${method}" not allowed.` })), { headers: { Allow: methods.join(', ') } });
  }
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(httpErrorHandler({ logger: false }))
  .use({
    // An unknown route or method: DRF's JSON shapes rather than the router's plain text; a known
    // path asked with a method it does not take is 405 with `Allow`, as DRF answers.
    before: (request) => refuseOtherMethodsOnLiteralPaths(request.event),
    onError: (request) => {
      const status = (request.error as { statusCode?: number } | null)?.statusCode;
      if (status === 405 && (request.error as { headers?: unknown }).headers !== undefined) return;
      if (status !== 404 && status !== 405) return;
      const method = request.event.requestContext?.http?.method ?? '';
      const allowed = methodsAt(request.event.rawPath ?? '');
      request.error =
        allowed.length === 0 || allowed.includes(method)
          ? createError(404, JSON.stringify({ detail: 'Not found.' }))
          : Object.assign(createError(405, JSON.stringify({ detail: `Method "${method}" not allowed.` })), { headers: { Allow: allowed.join(', ') } });
    },
  })
  .handler(httpRouterHandler<APIGatewayProxyEventV2, APIGatewayProxyResultV2>(routes.map(({ method, path, handler }) => ({ method, path, handler }))));
