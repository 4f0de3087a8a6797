import { visibleModelIds } from '../../lib/api/access';
import { idFilter, ListQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute } from '../../lib/http/api-route';

/** `GET /api/v1/model_aggregates/`: aggregates of the models the caller may see, newest first; `?federated_model=`, `?ordering=`. */
export const handler = apiRoute(getConnector, { audience: 'any', query: ListQuery }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const federatedModel = idFilter(query, 'federated_model');
  const visible = await visibleModelIds(connector, caller!);
  const models = federatedModel === undefined ? visible : visible.filter((id) => id === federatedModel);
  return listResponse(event, PAGE_SIZES.aggregates, (page) => connector.listModelAggregates({ models }, page), (a) => modelAggregateJson(a));
});
