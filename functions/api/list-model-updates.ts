import { visibleModelIds } from '../../lib/api/access';
import { choiceFilter, idFilter, LIST_HEADERS, listQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { clientModelUpdateJson, modelUpdateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { ClientModelUpdateJsonSchema, ModelUpdateJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const STATUSES = Object.values(UpdateStatus);

const doc: RouteDoc = {
  summary: "A client's own updates, or a developer's models' updates",
  responses: { 200: { description: 'A page of updates (clients see no status)', body: z.union([z.array(ClientModelUpdateJsonSchema), z.array(ModelUpdateJsonSchema)]), headers: LIST_HEADERS } },
};

/**
 * `GET /api/v1/model_updates/`: a client's own updates (without status), or a developer's models'
 * updates; `?federated_model=`, `?status=`, `?ordering=`.
 */
export const handler = apiRoute(getConnector, { audience: 'any', query: listQuery({ status: 'Only those with this status', federated_model: 'Only those of this federated_model (an id)' }), doc }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const federatedModel = idFilter(query, 'federated_model');
  const status = choiceFilter(query, 'status', STATUSES);
  if (caller.kind === 'client') {
    const filter = { client: caller.id, status, ...(federatedModel === undefined ? {} : { models: [federatedModel] }) };
    return listResponse(event, PAGE_SIZES.updates, (page) => connector.listModelUpdates(filter, page), (u) => clientModelUpdateJson(u));
  }
  const visible = await visibleModelIds(connector, caller);
  const models = federatedModel === undefined ? visible : visible.filter((id) => id === federatedModel);
  return listResponse(event, PAGE_SIZES.updates, (page) => connector.listModelUpdates({ models, status }, page), (u) => modelUpdateJson(u));
});
