import { requireVisibleModel } from '../../lib/api/access';
import { weightsDownloadJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { getObjectStore } from '../../lib/store';
import { presignedInDtype as presigned, WeightsDownloadQuery } from '../../lib/api/weights-download-query';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { LatestWeightsDownloadJsonSchema, NothingYetJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const doc: RouteDoc = { summary: "Where to download the model's newest weights as bytes", responses: { 200: { description: 'A presigned URL and what it holds, or {} when there are no weights yet', body: z.union([LatestWeightsDownloadJsonSchema, NothingYetJsonSchema]) } } };

/**
 * `GET /api/v1/models/{id}/get_latest_model/weights/`: `get_latest_model` for large models, a
 * presigned URL to the bytes of the newest aggregate, else of the current artifact (with
 * `aggregate` null and `artifact` its id), else `{}`.
 */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, query: WeightsDownloadQuery, doc }, async ({ caller, params: { id }, query }) => {
  const store = getObjectStore();
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  const latest = await connector.pullLatestModelAggregate(model);
  if (latest !== null) {
    return { aggregate: latest.id, artifact: null, ...weightsDownloadJson(...(await presigned(store, latest.weights, query.dtype))) };
  }
  if (model.currentArtifact !== null) {
    const found = await connector.pullModelArtifactRecord(model.currentArtifact);
    if (found !== null) {
      return { aggregate: null, artifact: found.id, ...weightsDownloadJson(...(await presigned(store, found.weights, query.dtype))) };
    }
  }
  return {};
});
