import { idFilter, LIST_HEADERS, listQuery, listResponse, PAGE_SIZES, clientFilter } from '../../lib/api/lists';
import { clientAggregateScoreJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { ClientAggregateScoreJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const doc: RouteDoc = { summary: "A client's own scores, or the scores of a developer's models", responses: { 200: { description: 'A page of scores', body: z.array(ClientAggregateScoreJsonSchema), headers: LIST_HEADERS } } };

/**
 * `GET /api/v1/client_aggregate_scores/`: a client's own scores, or the scores of a developer's
 * models' aggregates, newest first; `?aggregate=`, `?client=`, `?ordering=`.
 */
export const handler = apiRoute(getConnector, { audience: 'any', query: listQuery({ aggregate: 'Only those of this aggregate (an id)', client: 'Only those of this client' }), doc }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const aggregate = idFilter(query, 'aggregate');
  const client = clientFilter(query, 'client');
  const filter =
    caller.kind === 'client'
      ? // Another client's scores are none of this one's: the filter then matches nothing.
        { client: client === undefined || client === caller.id ? caller.id : '', aggregate }
      : { models: await connector.pullModelsOfDeveloper(caller.id), client, aggregate };
  return listResponse(event, PAGE_SIZES.scores, (page) => connector.listClientAggregateScores(filter, page), clientAggregateScoreJson);
});
