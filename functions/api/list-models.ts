import { booleanFilter, ListQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { federatedModelJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute } from '../../lib/http/api-route';

/** `GET /api/v1/models/`: the developer's own models, newest first; `?allow_aggregation=`, `?ordering=`. */
export const handler = apiRoute(getConnector, { audience: 'developer', query: ListQuery }, async ({ caller, query, event }) => {
  const filter = { developer: caller!.id, allowAggregation: booleanFilter(query, 'allow_aggregation') };
  return listResponse(event, PAGE_SIZES.models, (page) => getConnector().listFederatedModels(filter, page), federatedModelJson);
});
