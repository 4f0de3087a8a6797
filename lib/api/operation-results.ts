import type { MetadataConnector } from '../connector';
import type { ModelAggregate, ModelUpdate } from '../entities';
import { modelAggregateJson, modelUpdateJson } from './representation';

/** Updates as JSON, with their weights (`data`) only when asked for. */
export async function updatesJson(connector: MetadataConnector, updates: ModelUpdate[], includeWeights: boolean) {
  const weights = includeWeights ? await connector.pullModelUpdateWeights(updates.map((u) => u.id)) : undefined;
  return updates.map((update) => modelUpdateJson(update, weights?.get(update.id)));
}

/** An aggregate as JSON (or null), with its weights (`result`) only when asked for. */
export async function aggregateJson(
  connector: MetadataConnector,
  aggregate: ModelAggregate | null,
  includeWeights: boolean,
) {
  if (aggregate === null) return null;
  return modelAggregateJson(aggregate, includeWeights ? await connector.pullWeights(aggregate.weights) : undefined);
}
