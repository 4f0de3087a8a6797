import { requireVisibleModel } from '../../lib/api/access';
import { federatedModelJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams } from '../../lib/http/api-route';

/** `GET /api/v1/models/{id}/`: one of the developer's own models (others' are 404). */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller!, id);
  return federatedModelJson(model, await connector.pullModelClients(model.id));
});
