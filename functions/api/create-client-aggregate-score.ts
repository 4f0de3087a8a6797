import { z } from 'zod';
import { invalidPk } from '../../lib/api/body-ids';
import { assertAgrees, assertNamesCaller, drfBody } from '../../lib/api/drf-body';
import { assertJsonLimits } from '../../lib/api/json-limits';
import { assertMatchesSchema } from '../../lib/api/json-schema';
import { clientAggregateScoreJson } from '../../lib/api/representation';
import { EntityIdSchema } from '../../lib/entities';
import { getConnector } from '../../lib/connector';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { ClientAggregateScoreJsonSchema } from '../../lib/api/response-schemas';

/** Reads `aggregate` and `validation_results`; `client` and `federated_model` (FMA's client sends them) must agree. */
export const body = drfBody({ aggregate: EntityIdSchema, validation_results: z.unknown() }, ['client', 'federated_model']);

const doc: RouteDoc = {
  summary: "Send a client's validation results for an aggregate",
  requestExample: { aggregate: 1, validation_results: { accuracy: 0.91, loss: 0.27 } },
  responses: { 201: { description: 'The score', body: ClientAggregateScoreJsonSchema } } };

/**
 * `POST /api/v1/client_aggregate_scores/`: a client's validation results for an aggregate of one
 * of its models, checked against the model's `client_agg_results_schema`; one per aggregate. A
 * `client` other than the caller is 403, a `federated_model` other than the aggregate's 400.
 */
export const handler = apiRoute(getConnector, { audience: 'client', body, doc }, async ({ caller, body: input }) => {
  assertNamesCaller(input.client, caller, 'client');
  assertJsonLimits(input.validation_results, 'validation_results');
  const connector = getConnector();
  // The aggregate's model, the model and the membership as the container knows them: the usual
  // score reads only the caller's credential and writes only the score.
  const modelId = await connector.pullModelOfAggregate(input.aggregate);
  if (modelId === null) throw invalidPk('aggregate', input.aggregate);
  const { model, isMember } = await connector.pullModelForClient(modelId, caller.id);
  // As requireVisibleAggregate answers: 404 for a model gone meanwhile, 403 for a client outside it.
  if (model === null) throw new NotFoundError('Not found.');
  if (!isMember) throw new ForbiddenError('This client is not registered with this model.');
  assertAgrees(input.federated_model, model.id, 'federated_model', "the aggregate's model");
  assertMatchesSchema(model.clientAggResultsSchema, input.validation_results, 'validation_results');
  try {
    const score = await connector.createClientAggregateScore(input.aggregate, caller.id, input.validation_results);
    return respond(201, clientAggregateScoreJson(score));
  } catch (error) {
    if (error instanceof ConflictError) {
      throw new ValidationError(error.message, { details: [{ field: 'non_field_errors', message: error.message }] });
    }
    throw error;
  }
});
