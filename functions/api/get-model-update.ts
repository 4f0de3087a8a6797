import { requireVisibleUpdate } from '../../lib/api/access';
import { assertJsonSizedWeights, clientModelUpdateJson, modelUpdateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ClientModelUpdateJsonSchema, ModelUpdateJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const doc: RouteDoc = { summary: 'One update, with its weights', responses: { 200: { description: 'The update (clients see no status)', body: z.union([ClientModelUpdateJsonSchema, ModelUpdateJsonSchema]) } }, errors: { 413: 'The weights hold more values than a JSON reply carries (250,000): GET /api/v1/model_updates/{id}/weights/ serves them as bytes' } };

/**
 * `GET /api/v1/model_updates/{id}/`: one of the caller's updates (or of a developer's models), with
 * its data; weights too large for a JSON reply are 413, naming the route that serves them as bytes.
 */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const update = await requireVisibleUpdate(connector, caller, id);
  assertJsonSizedWeights(update.weights, `/api/v1/model_updates/${id}/weights/`);
  const data = (await connector.pullModelUpdateWeights([id])).get(id);
  return caller.kind === 'client' ? clientModelUpdateJson(update, data) : modelUpdateJson(update, data);
});
