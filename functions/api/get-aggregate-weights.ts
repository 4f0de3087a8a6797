import { requireVisibleAggregate } from '../../lib/api/access';
import { weightsDownloadJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { getObjectStore } from '../../lib/store';
import { presignedInDtype as presigned, WeightsDownloadQuery } from '../../lib/api/weights-download-query';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { WeightsDownloadJsonSchema } from '../../lib/api/response-schemas';

const doc: RouteDoc = { summary: "Where to download an aggregate's weights as bytes", responses: { 200: { description: 'A presigned URL and what it holds', body: WeightsDownloadJsonSchema } } };

/**
 * `GET /api/v1/model_aggregates/{id}/weights/`: a presigned URL to download the aggregate's bytes
 * (little-endian float64), with their shapes, size and SHA-256: how large aggregates are read.
 */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, query: WeightsDownloadQuery, doc }, async ({ caller, params: { id }, query }) => {
  const store = getObjectStore();
  const connector = getConnector();
  const aggregate = await requireVisibleAggregate(connector, caller, id);
  return { aggregate: aggregate.id, ...weightsDownloadJson(...(await presigned(store, aggregate.weights, query.dtype))) };
});
