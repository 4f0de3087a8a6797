import { federatedModelJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, pageJson, PageQuery } from '../../lib/http/api-route';

/** `GET /api/v1/models/`: the developer's own models, newest first. */
export const handler = apiRoute(getConnector, { audience: 'developer', query: PageQuery }, async ({ caller, query, event }) => {
  const page = await getConnector().listFederatedModels({ developer: caller!.id }, { page: query.page, pageSize: query.page_size });
  return pageJson(event, query, page, federatedModelJson);
});
