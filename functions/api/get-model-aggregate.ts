import { requireVisibleAggregate } from '../../lib/api/access';
import { assertJsonSizedWeights, modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ModelAggregateJsonSchema } from '../../lib/api/response-schemas';
import { getObjectStore } from '../../lib/store';
import { readWeights } from '../../lib/store/weights';

const doc: RouteDoc = { summary: 'One aggregate, with its weights', responses: { 200: { description: 'The aggregate', body: ModelAggregateJsonSchema } }, errors: { 413: 'The weights hold more values than a JSON reply carries (250,000): GET /api/v1/model_aggregates/{id}/weights/ serves them as bytes' } };

/** `GET /api/v1/model_aggregates/{id}/`: one aggregate with its weights (`result`). */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const aggregate = await requireVisibleAggregate(connector, caller, id);
  assertJsonSizedWeights(aggregate.weights, `/api/v1/model_aggregates/${id}/weights/`);
  return modelAggregateJson(aggregate, await readWeights(getObjectStore(), aggregate.weights));
});
