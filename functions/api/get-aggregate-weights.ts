import { requireVisibleAggregate } from '../../lib/api/access';
import { weightsDownloadJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams } from '../../lib/http/api-route';

/**
 * `GET /api/v1/model_aggregates/{id}/weights/`: a presigned URL to download the aggregate's bytes
 * (little-endian float64), with their shapes, size and SHA-256: how large aggregates are read.
 */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const aggregate = await requireVisibleAggregate(connector, caller!, id);
  return { aggregate: aggregate.id, ...weightsDownloadJson(aggregate.weights, await connector.presignWeightsDownload(aggregate.weights)) };
});
