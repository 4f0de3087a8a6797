import { requireVisibleModel } from '../../lib/api/access';
import { assertJsonSizedWeights, modelAggregateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ModelAggregateJsonSchema, NothingYetJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';
import { getObjectStore } from '../../lib/store';
import { readWeights } from '../../lib/store/weights';

const doc: RouteDoc = { summary: "The model's latest aggregate, with its weights", responses: { 200: { description: 'The aggregate, or {} when there is none yet', body: z.union([ModelAggregateJsonSchema, NothingYetJsonSchema]) } } };

/** `GET /api/v1/models/{id}/get_latest_aggregate/`: the newest aggregate with its weights, or `{}`. */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params: { id } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  const latest = await connector.pullLatestModelAggregate(model);
  if (latest === null) return {};
  assertJsonSizedWeights(latest.weights, `/api/v1/model_aggregates/${latest.id}/weights/`);
  return modelAggregateJson(latest, await readWeights(getObjectStore(), latest.weights));
});
