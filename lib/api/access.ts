import type { MetadataConnector } from '../connector';
import type { FederatedModel, ModelAggregate, ModelUpdate } from '../entities';
import { ForbiddenError, NotFoundError } from '../errors';
import type { Caller } from '../http/api-route';

/**
 * The model, if the caller may see it: a developer only their own (others' are 404, as if they
 * did not exist); a client only models it belongs to (403 for others that exist).
 */
export async function requireVisibleModel(
  connector: MetadataConnector,
  caller: Caller,
  modelId: number,
): Promise<FederatedModel> {
  const model = await connector.pullFederatedModelWId(modelId);
  if (model === null || (caller.kind === 'developer' && model.developer !== caller.id)) {
    throw new NotFoundError('Not found.');
  }
  if (caller.kind === 'client' && !(await connector.isModelClient(model.id, caller.id))) {
    throw new ForbiddenError('This client is not registered with this model.');
  }
  return model;
}

/** Ids of the models whose objects the caller may see. */
export async function visibleModelIds(connector: MetadataConnector, caller: Caller): Promise<number[]> {
  return caller.kind === 'client' ? connector.pullModelsOfClient(caller.id) : connector.pullModelsOfDeveloper(caller.id);
}

/** The aggregate, if the caller may see its model (404 otherwise, 403 for a client outside it). */
export async function requireVisibleAggregate(
  connector: MetadataConnector,
  caller: Caller,
  aggregateId: number,
): Promise<ModelAggregate> {
  const aggregate = await connector.pullModelAggregate(aggregateId);
  if (aggregate === null) throw new NotFoundError('Not found.');
  await requireVisibleModel(connector, caller, aggregate.federatedModel);
  return aggregate;
}

/**
 * The update, if the caller may see it: a client its own only, a developer those of their own
 * models (404 otherwise, as if it did not exist).
 */
export async function requireVisibleUpdate(connector: MetadataConnector, caller: Caller, updateId: number): Promise<ModelUpdate> {
  const [update] = await connector.pullModelUpdates([updateId]);
  const visible =
    update !== undefined &&
    (caller.kind === 'client' ? update.client === caller.id : (await visibleModelIds(connector, caller)).includes(update.federatedModel));
  if (!visible) throw new NotFoundError('Not found.');
  return update;
}
