import { z } from 'zod';
import { invalidPk } from '../../lib/api/body-ids';
import { assertNamesCaller, drfBody } from '../../lib/api/drf-body';
import { assertJsonLimits } from '../../lib/api/json-limits';
import { assertMatchesSchema } from '../../lib/api/json-schema';
import { clientModelUpdateJson } from '../../lib/api/representation';
import { getConfig } from '../../lib/config';
import { EntityIdSchema } from '../../lib/entities';
import { getConnector, type MetadataConnector } from '../../lib/connector';
import type { FederatedModel, ModelUpdate } from '../../lib/entities';
import { ForbiddenError } from '../../lib/errors';
import { apiRoute } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { WEIGHTS_LIMITS } from '../../lib/weights';
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
 * body; `data` must match the model's `update_schema`; a client outside the model gets 403, a
 * `federated_model` or `base_aggregate` that names nothing 400 ("Invalid pk", as DRF) and a
 * `base_aggregate` of another model 400. A model that allows aggregation gets a run started.
 */
export const handler = apiRoute(getConnector, { audience: 'client', body }, async ({ caller, body: input }) => {
  assertNamesCaller(input.client, caller!, 'client');
  // Weights are at most 1 + WEIGHTS_LIMITS.maxDimensions deep; the parser checks the rest.
  assertJsonLimits(input.data, 'data', { maxDepth: 1 + WEIGHTS_LIMITS.maxDimensions, maxBytes: null });
  const connector = getConnector();
  const model = await connector.pullFederatedModelWId(input.federated_model);
  if (model === null) throw invalidPk('federated_model', input.federated_model);
  if (!(await connector.isModelClient(model.id, caller!.id))) throw new ForbiddenError('This client is not registered with this model.');
  assertMatchesSchema(model.updateSchema, input.data, 'data');
  if (input.base_aggregate !== null && (await connector.pullModelAggregate(input.base_aggregate)) === null) {
    throw invalidPk('base_aggregate', input.base_aggregate);
  }
  const update = await connector.createModelUpdate({
    federatedModel: model.id,
    client: caller!.id,
    data: input.data,
    baseAggregate: input.base_aggregate,
    numExamples: input.num_examples,
  });
  await startRunForNewUpdate(connector, update, model);
  // The connector accepted `data` only as finite numbers in rectangular lists, which are stored
  // exactly; echo it rather than read the weights back.
  return respond(201, { ...clientModelUpdateJson(update), data: input.data });
});

/**
 * The event path: a model that allows aggregation gets a run right away, named for the update, so
 * a retried request starts nothing twice. The schedule covers a failure to start it.
 */
export async function startRunForNewUpdate(connector: MetadataConnector, update: ModelUpdate, model?: FederatedModel): Promise<void> {
  if (getConfig().AGGREGATION_EXECUTOR !== 'stepfunctions') return;
  const found = model ?? (await connector.pullFederatedModelWId(update.federatedModel));
  if (found === null || !found.allowAggregation) return;
  await startAggregationRun(found.id, executionName(found.id, `update-${update.id}`)).catch((error: unknown) =>
    console.error('starting an aggregation run failed', error),
  );
}
