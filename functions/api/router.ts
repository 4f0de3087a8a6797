import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import httpRouterHandler, { type Method } from '@middy/http-router';
import { createError } from '@middy/util';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { handler as createClientAggregateScore } from './create-client-aggregate-score';
import { handler as createModel } from './create-model';
import { handler as completeModelUpdateUpload } from './complete-model-update-upload';
import { handler as createModelUpdate } from './create-model-update';
import { handler as createModelUpdateUpload } from './create-model-update-upload';
import { handler as getClientAggregateScore } from './get-client-aggregate-score';
import { handler as deleteModel } from './delete-model';
import { handler as getAggregateWeights } from './get-aggregate-weights';
import { handler as getCurrentArtifact } from './get-current-artifact';
import { handler as getLatestAggregate } from './get-latest-aggregate';
import { handler as getLatestModel } from './get-latest-model';
import { handler as getLatestModelWeights } from './get-latest-model-weights';
import { handler as getModel } from './get-model';
import { handler as getModelRun } from './get-model-run';
import { handler as getOpenApi } from './get-openapi';
import { handler as getModelAggregate } from './get-model-aggregate';
import { handler as getModelUpdate } from './get-model-update';
import { handler as getModelUpdateWeights } from './get-model-update-weights';
import { handler as listModelClients } from './list-model-clients';
import { handler as listModelRuns } from './list-model-runs';
import { handler as listClientAggregateScores } from './list-client-aggregate-scores';
import { handler as listModelAggregates } from './list-model-aggregates';
import { handler as listModelUpdates } from './list-model-updates';
import { handler as listModels } from './list-models';
import { handler as patchModelAggregate } from './patch-model-aggregate';
import { handler as publishAggregate } from './publish-aggregate';
import { handler as registerClient } from './register-client';
import { patchHandler as patchModel, putHandler as putModel } from './update-model';

type RouteHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;
const route = (method: Method, path: string, handler: unknown) => ({ method, path, handler: handler as RouteHandler });

/**
 * FMA's REST API (`/api/v1/...`) as one Lambda behind `ANY /api/v1/{proxy+}`: middy's router
 * picks the handler (one per file beside this one) and accepts every path with or without its
 * trailing slash, as FMA's Django routes did. One function rather than one per route, because
 * a route and its slash-suffixed twin cannot both be declared to serverless-offline.
 */
export const routes = [
  route('POST', '/api/v1/models', createModel),
  route('GET', '/api/v1/models', listModels),
  route('GET', '/api/v1/models/{id}', getModel),
  route('PUT', '/api/v1/models/{id}', putModel),
  route('PATCH', '/api/v1/models/{id}', patchModel),
  route('DELETE', '/api/v1/models/{id}', deleteModel),
  route('POST', '/api/v1/models/{id}/register_client', registerClient),
  route('GET', '/api/v1/models/{id}/clients', listModelClients),
  route('GET', '/api/v1/models/{id}/runs', listModelRuns),
  route('GET', '/api/v1/models/{id}/runs/{name}', getModelRun),
  route('GET', '/api/v1/models/{id}/get_latest_aggregate', getLatestAggregate),
  route('GET', '/api/v1/models/{id}/get_current_artifact', getCurrentArtifact),
  route('GET', '/api/v1/models/{id}/get_latest_model', getLatestModel),
  route('GET', '/api/v1/models/{id}/get_latest_model/weights', getLatestModelWeights),
  route('POST', '/api/v1/model_updates', createModelUpdate),
  route('POST', '/api/v1/model_updates/uploads', createModelUpdateUpload),
  route('POST', '/api/v1/model_updates/uploads/{upload}/complete', completeModelUpdateUpload),
  route('GET', '/api/v1/model_updates', listModelUpdates),
  route('GET', '/api/v1/model_updates/{id}', getModelUpdate),
  route('GET', '/api/v1/model_updates/{id}/weights', getModelUpdateWeights),
  route('GET', '/api/v1/model_aggregates', listModelAggregates),
  route('GET', '/api/v1/model_aggregates/{id}', getModelAggregate),
  route('GET', '/api/v1/model_aggregates/{id}/weights', getAggregateWeights),
  route('PATCH', '/api/v1/model_aggregates/{id}', patchModelAggregate),
  route('POST', '/api/v1/model_aggregates/{id}/publish_aggregate', publishAggregate),
  route('POST', '/api/v1/client_aggregate_scores', createClientAggregateScore),
  route('GET', '/api/v1/client_aggregate_scores', listClientAggregateScores),
  route('GET', '/api/v1/client_aggregate_scores/{id}', getClientAggregateScore),
  route('GET', '/api/v1/openapi.json', getOpenApi),
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
  .handler(httpRouterHandler<APIGatewayProxyEventV2, APIGatewayProxyResultV2>(routes));
