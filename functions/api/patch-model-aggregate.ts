import { z } from 'zod';
import { requireVisibleAggregate } from '../../lib/api/access';
import { drfBody } from '../../lib/api/drf-body';
import { modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ModelAggregateJsonSchema } from '../../lib/api/response-schemas';

/** Reads `validation_score`, when sent (a partial update, as DRF's PATCH); other keys are ignored. */
export const body = drfBody({ validation_score: z.number().finite().nullable().optional() });

const doc: RouteDoc = {
  summary: "Set an aggregate's validation score",
  requestExample: { validation_score: 0.93 },
  responses: { 200: { description: 'The aggregate', body: ModelAggregateJsonSchema } } };

/** `PATCH /api/v1/model_aggregates/{id}/`: a developer sets the aggregate's `validation_score` (without one, nothing changes). */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const connector = getConnector();
  const aggregate = await requireVisibleAggregate(connector, caller, id);
  if (input.validation_score === undefined) return modelAggregateJson(aggregate);
  return modelAggregateJson(await connector.setAggregateValidationScore(id, input.validation_score));
});
