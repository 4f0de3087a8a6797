import { idFilter, ListQuery, listResponse, PAGE_SIZES, stringFilter } from '../../lib/api/lists';
import { clientAggregateScoreJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute } from '../../lib/http/api-route';

/**
 * `GET /api/v1/client_aggregate_scores/`: a client's own scores, or the scores of a developer's
 * models' aggregates, newest first; `?aggregate=`, `?client=`, `?ordering=`.
 */
export const handler = apiRoute(getConnector, { audience: 'any', query: ListQuery }, async ({ caller, query, event }) => {
  const connector = getConnector();
  const aggregate = idFilter(query, 'aggregate');
  const client = stringFilter(query, 'client');
  const filter =
    caller!.kind === 'client'
      ? // Another client's scores are none of this one's: the filter then matches nothing.
        { client: client === undefined || client === caller!.id ? caller!.id : '', aggregate }
      : { models: await connector.pullModelsOfDeveloper(caller!.id), client, aggregate };
  return listResponse(event, PAGE_SIZES.scores, (page) => connector.listClientAggregateScores(filter, page), clientAggregateScoreJson);
});
