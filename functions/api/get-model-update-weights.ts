import { requireVisibleUpdate } from '../../lib/api/access';
import { weightsDownloadJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { getObjectStore } from '../../lib/store';
import { presignWeightsDownload } from '../../lib/store/weights';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { WeightsDownloadJsonSchema } from '../../lib/api/response-schemas';

const doc: RouteDoc = { summary: "Where to download an update's own weights as bytes", responses: { 200: { description: 'A presigned URL and what it holds', body: WeightsDownloadJsonSchema } } };

/**
 * `GET /api/v1/model_updates/{id}/weights/`: a presigned URL to the update's bytes, as sent, with
 * their dtype, shapes, size and SHA-256; for its client and the model's developer only.
 */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const update = await requireVisibleUpdate(connector, caller, id);
  return { update: update.id, ...weightsDownloadJson(update.weights, await presignWeightsDownload(getObjectStore(), update.weights)) };
});
