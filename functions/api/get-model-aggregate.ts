import { z } from 'zod';
import { requireVisibleAggregate } from '../../lib/api/access';
import { modelAggregateJson } from '../../lib/api/representation';
import { EntityIdSchema } from '../../lib/entities';
import { getConnector } from '../../lib/connector';
import { apiRoute } from '../../lib/http/api-route';

export const params = z.object({ id: z.coerce.number().pipe(EntityIdSchema) });

/** `GET /api/v1/model_aggregates/{id}/`: one aggregate with its weights (`result`). */
export const handler = apiRoute(getConnector, { audience: 'any', params }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const aggregate = await requireVisibleAggregate(connector, caller!, id);
  return modelAggregateJson(aggregate, (await connector.pullModelAggregateWeights(id)) ?? undefined);
});
