import { z } from 'zod';
import { requireVisibleAggregate } from '../../lib/api/access';
import { assertMatchesSchema } from '../../lib/api/json-schema';
import { EntityIdSchema } from '../../lib/entities';
import { getConnector } from '../../lib/connector';
import { ConflictError, ValidationError } from '../../lib/errors';
import { apiRoute } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

export const body = z.strictObject({ aggregate: EntityIdSchema, validation_results: z.unknown() });

/**
 * `POST /api/v1/client_aggregate_scores/`: a client's validation results for an aggregate of one
 * of its models, checked against the model's `client_agg_results_schema`; one per aggregate.
 */
export const handler = apiRoute(getConnector, { audience: 'client', body }, async ({ caller, body: input }) => {
  const connector = getConnector();
  const aggregate = await requireVisibleAggregate(connector, caller!, input.aggregate);
  const model = (await connector.pullFederatedModelWId(aggregate.federatedModel))!;
  assertMatchesSchema(model.clientAggResultsSchema, input.validation_results, 'validation_results');
  try {
    const score = await connector.createClientAggregateScore(aggregate, caller!.id, input.validation_results);
    return respond(201, {
      id: score.id,
      aggregate: score.aggregate,
      client: score.client,
      validation_results: score.validationResults,
      created_on: score.createdOn.toISOString(),
    });
  } catch (error) {
    if (error instanceof ConflictError) {
      throw new ValidationError(error.message, { details: [{ field: 'non_field_errors', message: error.message }] });
    }
    throw error;
  }
});
