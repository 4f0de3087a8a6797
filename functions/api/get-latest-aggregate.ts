import { requireVisibleModel } from '../../lib/api/access';
import { assertJsonSizedWeights, modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams } from '../../lib/http/api-route';

/** `GET /api/v1/models/{id}/get_latest_aggregate/`: the newest aggregate with its weights, or `{}`. */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller!, id);
  const latest = await connector.pullLatestModelAggregate(model);
  if (latest === null) return {};
  assertJsonSizedWeights(latest.weights, `/api/v1/model_aggregates/${latest.id}/weights/`);
  return modelAggregateJson(latest, await connector.pullWeights(latest.weights));
});
