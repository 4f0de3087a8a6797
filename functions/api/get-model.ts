import { requireVisibleModel } from '../../lib/api/access';
import { memberPreviewOf } from '../../lib/api/model-body';
import { federatedModelJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { FederatedModelJsonSchema } from '../../lib/api/response-schemas';

const doc: RouteDoc = { summary: 'One of the developer\'s models', responses: { 200: { description: 'The model', body: FederatedModelJsonSchema } } };

/** `GET /api/v1/models/{id}/`: one of the developer's own models (others' are 404). */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  return federatedModelJson(model, await memberPreviewOf(connector, model.id));
});
