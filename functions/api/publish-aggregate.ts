import { requireVisibleAggregate } from '../../lib/api/access';
import { drfBody } from '../../lib/api/drf-body';
import { modelArtifactJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { ArtifactVersionSchema } from '../../lib/entities';
import { ConflictError, ValidationError } from '../../lib/errors';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { ModelArtifactJsonSchema } from '../../lib/api/response-schemas';

/** Reads `version`; other keys are ignored. */
export const body = drfBody({ version: ArtifactVersionSchema });

const doc: RouteDoc = {
  summary: "Publish an aggregate as the model's current artifact",
  requestExample: { version: '1.1.0' },
  responses: { 201: { description: 'The artifact', body: ModelArtifactJsonSchema } } };

/**
 * `POST /api/v1/model_aggregates/{id}/publish_aggregate/`: the aggregate's weights become a
 * versioned artifact and the model's current artifact (201). A version the model has is a 400.
 */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const connector = getConnector();
  await requireVisibleAggregate(connector, caller, id);
  try {
    const artifact = await connector.publishModelAggregate(id, input.version);
    return respond(201, modelArtifactJson(artifact));
  } catch (error) {
    if (error instanceof ConflictError) {
      throw new ValidationError(error.message, { details: [{ field: 'version', message: error.message }] });
    }
    throw error;
  }
});
