import { requireVisibleModel } from '../../lib/api/access';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

const doc: RouteDoc = { summary: 'Delete a model with its updates, aggregates, artifacts and scores', responses: { 204: { description: 'Deleted' } } };

/**
 * `DELETE /api/v1/models/{id}/`: the developer deletes one of their models with its updates,
 * uploads, aggregates, artifacts, scores and stored weights: 204, or 409 while a run holds the
 * model's aggregation lease.
 */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  await requireVisibleModel(connector, caller, id);
  await connector.deleteFederatedModel(id);
  return respond(204, undefined);
});
