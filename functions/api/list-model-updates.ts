import { visibleModelIds } from '../../lib/api/access';
import { choiceFilter, idFilter, ListQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { clientModelUpdateJson, modelUpdateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { apiRoute } from '../../lib/http/api-route';

const STATUSES = Object.values(UpdateStatus);

/**
 * `GET /api/v1/model_updates/`: a client's own updates (without status), or a developer's models'
 * updates; `?federated_model=`, `?status=`, `?ordering=`.
 */
export const handler = apiRoute(getConnector, { audience: 'any', query: ListQuery }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const federatedModel = idFilter(query, 'federated_model');
  const status = choiceFilter(query, 'status', STATUSES);
  if (caller!.kind === 'client') {
    const filter = { client: caller!.id, status, ...(federatedModel === undefined ? {} : { models: [federatedModel] }) };
    return listResponse(event, PAGE_SIZES.updates, (page) => connector.listModelUpdates(filter, page), (u) => clientModelUpdateJson(u));
  }
  const visible = await visibleModelIds(connector, caller!);
  const models = federatedModel === undefined ? visible : visible.filter((id) => id === federatedModel);
  return listResponse(event, PAGE_SIZES.updates, (page) => connector.listModelUpdates({ models, status }, page), (u) => modelUpdateJson(u));
});
