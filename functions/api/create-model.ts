import { z } from 'zod';
import { assertNamesCaller, drfBody } from '../../lib/api/drf-body';
import { assertModelJson, modelFields, requireExistingClients, memberPreviewOf } from '../../lib/api/model-body';
import { federatedModelJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { ModelNameSchema } from '../../lib/entities';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { parseWeights } from '../../lib/weights';
import { FederatedModelJsonSchema } from '../../lib/api/response-schemas';

const JsonSchema = z.record(z.string(), z.unknown()).nullable().default(null);

/** Other keys are ignored (`id`, `current_artifact`, ...), except `developer`, which must be the caller. */
export const body = drfBody({
  name: ModelNameSchema,
  aggregator: z.string(),
  /** The strategy's parameters (issue #11), e.g. `{"beta": 0.1}` for `trimmed_mean`. */
  aggregator_params: z.record(z.string(), z.unknown()).nullable().default(null),
  requirement: z.string().nullable().default(null),
  requirement_args: z.array(z.unknown()).nullable().default(null),
  update_schema: JsonSchema,
  client_agg_results_schema: JsonSchema,
  furthest_base_agg: z.number().int().positive().nullable().default(null),
  allow_aggregation: z.boolean().default(false),
  /** Issue #28: the model takes masked inputs through secure rounds only (README: Secure aggregation). */
  secure_aggregation: modelFields.secure_aggregation.default(null),
  /** Weights to start from: stored as artifact version "1.0.0", the model's current artifact. */
  initial_model: z.array(z.unknown()).optional(),
  /** When set, new clients must show it to register (FMA let anyone in). */
  join_secret: z.string().nullable().default(null),
  /** Ids of existing clients, members from the start (FMA's example posts them). */
  clients: modelFields.clients.default([]),
}, ['developer']);

const doc: RouteDoc = {
  summary: 'Create a federated model',
  requestExample: { name: 'mnist-mlp', aggregator: 'avg_values_if_data', requirement: 'require_x_updates', requirement_args: [3], allow_aggregation: true },
  responses: { 201: { description: 'The model', body: FederatedModelJsonSchema } } };

/** `POST /api/v1/models/`: a developer creates a model; the developer is the caller, never the body. */
export const handler = apiRoute(getConnector, { audience: 'developer', body, doc }, async ({ caller, body: input }) => {
  assertNamesCaller(input.developer, caller, 'developer');
  assertModelJson(input);
  // Everything is checked before the first write: a refused `initial_model` must not leave a
  // model behind (the connector parses it again when it stores the artifact).
  if (input.initial_model !== undefined) parseWeights(input.initial_model, 'initial_model');
  const connector = getConnector();
  const clients = await requireExistingClients(connector, input.clients);
  let model = await connector.createFederatedModel({
    name: input.name,
    developer: caller.id,
    clients,
    aggregator: input.aggregator,
    aggregatorParams: input.aggregator_params,
    requirement: input.requirement,
    requirementArgs: input.requirement_args ?? [],
    updateSchema: input.update_schema,
    clientAggResultsSchema: input.client_agg_results_schema,
    furthestBaseAgg: input.furthest_base_agg,
    allowAggregation: input.allow_aggregation,
    secureAggregation: input.secure_aggregation,
    joinSecret: input.join_secret,
  });
  if (input.initial_model !== undefined) {
    await connector.createModelArtifact(model, '1.0.0', input.initial_model);
    model = (await connector.pullFederatedModelWId(model.id))!;
  }
  return respond(201, federatedModelJson(model, await memberPreviewOf(connector, model.id)));
});
