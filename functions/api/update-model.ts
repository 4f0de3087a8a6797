import { assertNamesCaller } from '../../lib/api/drf-body';
import { requireVisibleModel } from '../../lib/api/access';
import { assertModelJson, modelPatchBody, modelPutBody, requireExistingClients, memberPreviewOf } from '../../lib/api/model-body';
import { federatedModelJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { FederatedModelJsonSchema } from '../../lib/api/response-schemas';

type ModelChange = ReturnType<typeof modelPatchBody.parse>;

/**
 * `PUT` and `PATCH /api/v1/models/{id}/`: the developer changes one of their models, with the
 * checks of creation. Only the keys given change (PUT must give `name` and `aggregator`);
 * `clients` replaces the members. The weights shape stays. A run reads the model as it goes, so a
 * change applies from the next run on.
 */
function changeModel(body: typeof modelPatchBody | typeof modelPutBody, summary: string) {
  const doc: RouteDoc = { summary, responses: { 200: { description: 'The model as changed', body: FederatedModelJsonSchema } } };
  return apiRoute(getConnector, { audience: 'developer', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body }) => {
    const input = body as ModelChange;
    assertNamesCaller(input.developer, caller, 'developer');
    const connector = getConnector();
    const model = await requireVisibleModel(connector, caller, id);
    assertModelJson(input);
    const clients = input.clients === undefined ? undefined : await requireExistingClients(connector, input.clients);
    let changed = await connector.updateFederatedModel(model, {
      name: input.name,
      aggregator: input.aggregator,
      aggregatorParams: input.aggregator_params,
      requirement: input.requirement,
      requirementArgs: input.requirement_args === null ? [] : input.requirement_args,
      updateSchema: input.update_schema,
      clientAggResultsSchema: input.client_agg_results_schema,
      furthestBaseAgg: input.furthest_base_agg,
      allowAggregation: input.allow_aggregation,
      secureAggregation: input.secure_aggregation,
    });
    if (clients !== undefined) changed = await connector.setModelClients(model, clients);
    return federatedModelJson(changed, await memberPreviewOf(connector, changed.id));
  });
}

export const putHandler = changeModel(modelPutBody, 'Change a model (name and aggregator required)');
export const patchHandler = changeModel(modelPatchBody, 'Change some fields of a model');
