import { z } from 'zod';
import { assertNamesCaller, drfBody } from '../../lib/api/drf-body';
import { assertMatchesSchema } from '../../lib/api/json-schema';
import { clientModelUpdateJson } from '../../lib/api/representation';
import { getConfig } from '../../lib/config';
import { EntityIdSchema } from '../../lib/entities';
import { getConnector } from '../../lib/connector';
import { ForbiddenError, NotFoundError } from '../../lib/errors';
import { apiRoute } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { executionName, startAggregationRun } from '../aggregation/start-run';

/** Other keys are ignored, except `client`, which must be the caller. */
export const body = drfBody({
  federated_model: EntityIdSchema,
  data: z.unknown(),
  base_aggregate: EntityIdSchema.nullable().default(null),
  /** How many examples the client trained on (weighted FedAvg). */
  num_examples: z.number().int().nonnegative().nullable().default(null),
}, ['client']);

/**
 * `POST /api/v1/model_updates/`: a client sends an update. The client is the caller, never the
 * body; `data` must match the model's `update_schema`; a client outside the model gets 403 and a
 * `base_aggregate` of another model 400. A model that allows aggregation gets a run started.
 */
export const handler = apiRoute(getConnector, { audience: 'client', body }, async ({ caller, body: input }) => {
  assertNamesCaller(input.client, caller!, 'client');
  const connector = getConnector();
  const model = await connector.pullFederatedModelWId(input.federated_model);
  if (model === null) throw new NotFoundError('Not found.');
  if (!model.clients.includes(caller!.id)) throw new ForbiddenError('This client is not registered with this model.');
  assertMatchesSchema(model.updateSchema, input.data, 'data');
  const update = await connector.createModelUpdate({
    federatedModel: model.id,
    client: caller!.id,
    data: input.data,
    baseAggregate: input.base_aggregate,
    numExamples: input.num_examples,
  });
  if (model.allowAggregation && getConfig().AGGREGATION_EXECUTOR === 'stepfunctions') {
    // The event path: a run for this model right away (named for the update, so a retried
    // request starts nothing twice). The schedule covers a failure to start it.
    await startAggregationRun(model.id, executionName(model.id, `update-${update.id}`)).catch((error: unknown) =>
      console.error('starting an aggregation run failed', error),
    );
  }
  // The connector accepted `data` only as finite numbers in rectangular lists, which are stored
  // exactly; echo it rather than read the weights back.
  return respond(201, { ...clientModelUpdateJson(update), data: input.data });
});
