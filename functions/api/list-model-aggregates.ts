import { visibleModelIds } from '../../lib/api/access';
import { idFilter, LIST_HEADERS, listQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { ModelAggregateJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const doc: RouteDoc = { summary: 'Aggregates of the models the caller belongs to or owns', responses: { 200: { description: 'A page of aggregates', body: z.array(ModelAggregateJsonSchema), headers: LIST_HEADERS } } };

/** `GET /api/v1/model_aggregates/`: aggregates of the models the caller may see, newest first; `?federated_model=`, `?ordering=`. */
export const handler = apiRoute(getConnector, { audience: 'any', query: listQuery({ federated_model: 'Only those of this federated_model (an id)' }), doc }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const federatedModel = idFilter(query, 'federated_model');
  const visible = await visibleModelIds(connector, caller);
  const models = federatedModel === undefined ? visible : visible.filter((id) => id === federatedModel);
  return listResponse(event, PAGE_SIZES.aggregates, (page) => connector.listModelAggregates({ models }, page), (a) => modelAggregateJson(a));
});
