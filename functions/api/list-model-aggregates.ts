import { visibleModelIds } from '../../lib/api/access';
import { modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, pageJson, PageQuery } from '../../lib/http/api-route';

/** `GET /api/v1/model_aggregates/`: aggregates of the models the caller may see, newest first. */
export const handler = apiRoute(getConnector, { audience: 'any', query: PageQuery }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const models = await visibleModelIds(connector, caller!);
  const page = await connector.listModelAggregates({ models }, { page: query.page, pageSize: query.page_size });
  return pageJson(event, query, page, (aggregate) => modelAggregateJson(aggregate));
});
