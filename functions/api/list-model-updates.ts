import { visibleModelIds } from '../../lib/api/access';
import { clientModelUpdateJson, modelUpdateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, pageJson, PageQuery } from '../../lib/http/api-route';

/** `GET /api/v1/model_updates/`: a client's own updates (without status), or a developer's models' updates. */
export const handler = apiRoute(getConnector, { audience: 'any', query: PageQuery }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const page = { page: query.page, pageSize: query.page_size };
  if (caller!.kind === 'client') {
    return pageJson(event, query, await connector.listModelUpdates({ client: caller!.id }, page), (u) => clientModelUpdateJson(u));
  }
  const models = await visibleModelIds(connector, caller!);
  return pageJson(event, query, await connector.listModelUpdates({ models }, page), (u) => modelUpdateJson(u));
});
