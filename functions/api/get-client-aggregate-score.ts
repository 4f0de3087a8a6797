import { clientAggregateScoreJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { ClientAggregateScoreJsonSchema } from '../../lib/api/response-schemas';

const doc: RouteDoc = { summary: 'One score', responses: { 200: { description: 'The score', body: ClientAggregateScoreJsonSchema } } };

/** `GET /api/v1/client_aggregate_scores/{id}/`: a client's own score, or a score of a developer's model's aggregate (404 otherwise). */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, doc }, async ({ caller, params }) => {
  const connector = getConnector();
  const score = await connector.pullClientAggregateScore(params.id);
  if (score === null) throw new NotFoundError('Not found.');
  if (caller.kind === 'client') {
    if (score.client !== caller.id) throw new NotFoundError('Not found.');
  } else {
    const aggregate = await connector.pullModelAggregate(score.aggregate);
    const model = aggregate === null ? null : await connector.pullFederatedModelWId(aggregate.federatedModel);
    if (model === null || model.developer !== caller.id) throw new NotFoundError('Not found.');
  }
  return clientAggregateScoreJson(score);
});
