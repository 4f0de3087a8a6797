import { z } from 'zod';
import { requireVisibleAggregate } from '../../lib/api/access';
import { modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams } from '../../lib/http/api-route';

export const body = z.strictObject({ validation_score: z.number().finite().nullable() });

/** `PATCH /api/v1/model_aggregates/{id}/`: a developer sets the aggregate's `validation_score`. */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams, body }, async ({ caller, params: { id }, body: input }) => {
  const connector = getConnector();
  await requireVisibleAggregate(connector, caller!, id);
  return modelAggregateJson(await connector.setAggregateValidationScore(id, input.validation_score));
});
