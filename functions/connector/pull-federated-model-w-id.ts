import { z } from 'zod';
import { memberPreviewOf } from '../../lib/api/model-body';
import { federatedModelJson } from '../../lib/api/representation';
import { Id } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ fed_model_id: Id });

/** `pull_federated_model_w_id`: the model; 404 / NotFoundError when none has that id. */
export const handler = createHandler({ input }, async ({ fed_model_id }) => {
  const connector = getConnector();
  const model = await connector.pullFederatedModelWId(fed_model_id);
  if (model === null) throw new NotFoundError(`Federated model ${fed_model_id} does not exist`);
  return federatedModelJson(model, await memberPreviewOf(connector, model.id));
});
