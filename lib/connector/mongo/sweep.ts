import type { ConnectorContext } from './context';

// Weight bytes that no document refers to. Bytes are written before the document that refers to
// them, so a crash (or a refused insert) in between leaves an object behind; a delete that fails
// half-way may too. Objects under `uploads/` expire by the bucket's lifecycle rule; the rest are
// found and removed here, by the daily sweep (functions/maintenance/sweep-orphaned-weights.ts).

/** The prefixes of objects that documents refer to, with the fields that refer to them. */
const REFERRED = ['updates/', 'aggregates/', 'artifacts/', 'optimizer-state/', 'secure-inputs/'] as const;

export interface SweepResult {
  readonly listed: number;
  readonly deleted: number;
}

/**
 * Deletes the objects under the weights prefixes that were written before `olderThan` and that
 * no update, aggregate, artifact, optimizer state or secure round's masked input refers to. `olderThan` must leave time for a
 * write in flight to insert its document (the sweep uses a day): an object younger than that
 * may still be about to be referred to.
 */
export async function sweepOrphanedWeights(context: ConnectorContext, olderThan: Date): Promise<SweepResult> {
  const { modelUpdates, modelAggregates, modelArtifacts, secureRoundMessages } = await context.collections();
  const store = context.store();
  let listed = 0;
  let deleted = 0;
  for (const prefix of REFERRED) {
    let continuation: string | undefined;
    do {
      const page = await store.list(prefix, continuation);
      continuation = page.continuation ?? undefined;
      listed += page.objects.length;
      const candidates = page.objects.filter((object) => object.lastModified < olderThan).map((object) => object.key);
      if (candidates.length === 0) continue;
      const inKeys = { $in: candidates };
      const [updates, aggregates, artifacts, states, maskedInputs] = await Promise.all([
        modelUpdates.find({ 'weights.key': inKeys }, { projection: { weights: 1 } }).toArray(),
        modelAggregates.find({ 'weights.key': inKeys }, { projection: { weights: 1 } }).toArray(),
        modelArtifacts.find({ 'weights.key': inKeys }, { projection: { weights: 1 } }).toArray(),
        modelAggregates.find({ 'strategy.optimizerState.key': inKeys }, { projection: { strategy: 1 } }).toArray(),
        // A secure round's masked inputs (issue #28): copied before their message is inserted.
        secureRoundMessages.find({ 'input.key': inKeys }, { projection: { input: 1 } }).toArray(),
      ]);
      const referred = new Set<string>([
        ...[...updates, ...aggregates, ...artifacts].map((document) => document.weights.key),
        ...states.flatMap((document) => (document.strategy?.optimizerState?.key === undefined ? [] : [document.strategy.optimizerState.key])),
        ...maskedInputs.flatMap((document) => (document.input === undefined ? [] : [document.input.key])),
      ]);
      const orphans = candidates.filter((key) => !referred.has(key));
      if (orphans.length > 0) await store.delete(orphans);
      deleted += orphans.length;
    } while (continuation !== undefined);
  }
  return { listed, deleted };
}
