import { requireVisibleModel } from '../../lib/api/access';
import { AggregationRunDetailJsonSchema } from '../../lib/api/response-schemas';
import { aggregationRunDetailJson } from '../../lib/api/run-representation';
import { getConnector } from '../../lib/connector';
import { RunIdSchema } from '../../lib/entities';
import { NotFoundError } from '../../lib/errors';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';

export const params = IdPathParams.extend({ name: RunIdSchema });

const doc: RouteDoc = {
  summary: 'One aggregation run of a model, with its states',
  description: "Each Task state the run went through, in order, with when its function began and ended and what it threw.",
  responses: { 200: { description: 'The run and its states', body: AggregationRunDetailJsonSchema } },
};

/** `GET /api/v1/models/{id}/runs/{name}/`: one run of the owner's model, with its states and their durations. */
export const handler = apiRoute(getConnector, { audience: 'developer', params, doc }, async ({ caller, params: { id, name } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  const run = await connector.pullAggregationRun(model.id, name);
  if (run === null) throw new NotFoundError('Not found.');
  return aggregationRunDetailJson(run);
});
