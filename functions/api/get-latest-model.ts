import { requireVisibleModel } from '../../lib/api/access';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { weightsToJson } from '../../lib/weights';
import { assertJsonSizedWeights } from '../../lib/api/representation';
import { LatestModelJsonSchema, NothingYetJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';
import { getObjectStore } from '../../lib/store';
import { readWeights } from '../../lib/store/weights';

const doc: RouteDoc = { summary: "The model's newest weights: its latest aggregate's, else its current artifact's", responses: { 200: { description: 'The weights, or {} when there are none yet', body: z.union([LatestModelJsonSchema, NothingYetJsonSchema]) } } };

/**
 * `GET /api/v1/models/{id}/get_latest_model/`: `{"values": <weights>, "aggregate": <id>}` of the
 * newest aggregate, else of the current artifact (`aggregate: null`), else `{}`.
 */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  const latest = await connector.pullLatestModelAggregate(model);
  const binaryRoute = `/api/v1/models/${model.id}/get_latest_model/weights/`;
  if (latest !== null) {
    assertJsonSizedWeights(latest.weights, binaryRoute);
    return { values: weightsToJson(await readWeights(getObjectStore(), latest.weights)), aggregate: latest.id };
  }
  const artifact = model.currentArtifact === null ? null : await connector.pullModelArtifactRecord(model.currentArtifact);
  if (artifact !== null) {
    assertJsonSizedWeights(artifact.weights, binaryRoute);
    return { values: weightsToJson(await readWeights(getObjectStore(), artifact.weights)), aggregate: null };
  }
  return {};
});
