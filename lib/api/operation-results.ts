import type { MetadataConnector } from '../connector';
import type { ModelAggregate, ModelUpdate } from '../entities';
import { modelAggregateJson, modelUpdateJson } from './representation';
import { getObjectStore } from '../store';
import { readWeights } from '../store/weights';

/** Updates as JSON, with their weights (`data`) only when asked for. */
export async function updatesJson(connector: MetadataConnector, updates: ModelUpdate[], includeWeights: boolean) {
  const weights = includeWeights ? await connector.pullModelUpdateWeights(updates.map((u) => u.id)) : undefined;
  return updates.map((update) => modelUpdateJson(update, weights?.get(update.id)));
}

/** An aggregate as JSON (or null), with its weights (`result`) only when asked for. */
export async function aggregateJson(aggregate: ModelAggregate | null, includeWeights: boolean) {
  if (aggregate === null) return null;
  return modelAggregateJson(aggregate, includeWeights ? await readWeights(getObjectStore(), aggregate.weights) : undefined);
}
