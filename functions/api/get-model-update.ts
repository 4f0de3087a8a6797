import { visibleModelIds } from '../../lib/api/access';
import { clientModelUpdateJson, modelUpdateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ClientModelUpdateJsonSchema, ModelUpdateJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const doc: RouteDoc = { summary: 'One update, with its weights', responses: { 200: { description: 'The update (clients see no status)', body: z.union([ClientModelUpdateJsonSchema, ModelUpdateJsonSchema]) } } };

/** `GET /api/v1/model_updates/{id}/`: one of the caller's updates (or of a developer's models), with its data. */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const [update] = await connector.pullModelUpdates([id]);
  const visible =
    update !== undefined &&
    (caller!.kind === 'client'
      ? update.client === caller!.id
      : (await visibleModelIds(connector, caller!)).includes(update.federatedModel));
  if (!visible) throw new NotFoundError('Not found.');
  const data = (await connector.pullModelUpdateWeights([id])).get(id);
  return caller!.kind === 'client' ? clientModelUpdateJson(update!, data) : modelUpdateJson(update!, data);
});
