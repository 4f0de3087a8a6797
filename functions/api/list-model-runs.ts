import { z } from 'zod';
import { requireVisibleModel } from '../../lib/api/access';
import { choiceFilter, LIST_HEADERS, listQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { AggregationRunJsonSchema } from '../../lib/api/response-schemas';
import { aggregationRunJson } from '../../lib/api/run-representation';
import { getConnector } from '../../lib/connector';
import { AGGREGATION_RUN_SHOWN_STATUSES } from '../../lib/entities';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';

const doc: RouteDoc = {
  summary: "A model's aggregation runs, newest first",
  description:
    'As the runs recorded themselves, task by task: trigger, start, duration, final state, updates claimed, the aggregate written, ' +
    'and why a run failed. `?status=RUNNING` is what is running now; TIMED_OUT, a run still RUNNING in the record past the state ' +
    "machine's timeout. Kept 30 days.",
  responses: { 200: { description: 'A page of runs, without their states', body: z.array(AggregationRunJsonSchema), headers: LIST_HEADERS } },
};

/** `GET /api/v1/models/{id}/runs/`: the owner's view of the model's aggregation runs (20 a page by default, at most 100). */
export const handler = apiRoute(
  getConnector,
  { audience: 'developer', params: IdPathParams, query: listQuery({ status: `One of ${AGGREGATION_RUN_SHOWN_STATUSES.join(', ')}` }), doc },
  async ({ caller, params: { id }, query, event }) => {
    const connector = getConnector();
    const model = await requireVisibleModel(connector, caller, id);
    const status = choiceFilter(query, 'status', AGGREGATION_RUN_SHOWN_STATUSES);
    const now = new Date();
    return listResponse(event, PAGE_SIZES.runs, (page) => connector.listAggregationRuns(model.id, { status, now }, page), (run) => aggregationRunJson(run, now));
  },
);
