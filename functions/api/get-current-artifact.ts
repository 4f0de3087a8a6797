import { requireVisibleModel } from '../../lib/api/access';
import { assertJsonSizedWeights, modelArtifactJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ModelArtifactJsonSchema, NothingYetJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';
import { getObjectStore } from '../../lib/store';
import { readWeights } from '../../lib/store/weights';

const doc: RouteDoc = { summary: "The model's current artifact, with its weights", responses: { 200: { description: 'The artifact, or {} when none is published', body: z.union([ModelArtifactJsonSchema, NothingYetJsonSchema]) } } };

/** `GET /api/v1/models/{id}/get_current_artifact/`: the published artifact with its values, or `{}`. */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  if (model.currentArtifact === null) return {};
  const record = await connector.pullModelArtifactRecord(model.currentArtifact);
  if (record === null) return {};
  assertJsonSizedWeights(record.weights, `/api/v1/models/${model.id}/get_latest_model/weights/`);
  return modelArtifactJson(record, await readWeights(getObjectStore(), record.weights));
});
