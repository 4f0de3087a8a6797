import { AggregationError } from '../../algorithms';
import type { AggregateStrategy, OptimizerStateRef } from '../../entities/aggregate-strategy';
import type { ModelAggregate } from '../../entities';
import { completeUpload, hashObject, pullShardManifest, type ShardManifest } from '../../store/weights';
import type { WeightsRef } from '../../weights';
import { insertRunAggregateForStoredWeights, pullModelAggregate } from './aggregates';
import type { ConnectorContext } from './context';

// The two steps of sharded aggregation (issue #14) that read or write the database as well as the
// object store: recording the aggregate once its uploads are complete, and abandoning a failed
// run's uploads unless its aggregate was recorded. The objects themselves: lib/store/weights/.

/**
 * Completes a sharded run's uploads into the aggregate (and the optimizer's new state), hashes
 * them as they are stored (one streamed GET each: the SHA-256 the API gives clients cannot be
 * combined from parts) and records the aggregate for the run. Until this, no aggregate of the run
 * is visible: the parts are not an object, and a retry after a lost answer gets the aggregate the
 * run already wrote.
 */
export async function completeShardedAggregate(
  context: ConnectorContext,
  manifest: ShardManifest,
  record: AggregateStrategy | null,
  beforeRecord: () => Promise<void>,
): Promise<ModelAggregate> {
  const { modelAggregates } = await context.collections();
  const written = await modelAggregates.findOne({ federatedModel: manifest.model, run: manifest.run }, { projection: { _id: 1 } });
  if (written !== null) return (await pullModelAggregate(context, written._id))!;
  const sizes = manifest.shards.map((shard) => (shard.end - shard.start) * 8);
  await completeUpload(context.store(), manifest.aggregate.key, manifest.aggregate.uploadId, sizes);
  let strategy = record;
  if (manifest.optimizerState !== null && strategy !== null) {
    const components: ('m' | 'v')[] = manifest.aggregator === 'fedavgm' ? ['m'] : ['m', 'v'];
    if (manifest.optimizerState.uploadId !== null) {
      await completeUpload(context.store(), manifest.optimizerState.key, manifest.optimizerState.uploadId, components.flatMap(() => sizes));
    }
    const { sha256, byteSize } = await hashObject(context.store(), manifest.optimizerState.key);
    if (byteSize !== manifest.length * components.length * 8) throw new AggregationError(`optimizer state ${manifest.optimizerState.key} holds ${byteSize} bytes`);
    strategy = {
      ...strategy,
      optimizerState: { key: manifest.optimizerState.key, optimizer: manifest.aggregator as OptimizerStateRef['optimizer'], components, length: manifest.length, byteSize, sha256 },
    };
  }
  const { sha256, byteSize } = await hashObject(context.store(), manifest.aggregate.key);
  if (byteSize !== manifest.length * 8) throw new AggregationError(`the aggregate ${manifest.aggregate.key} holds ${byteSize} bytes, not ${manifest.length * 8}`);
  const ref: WeightsRef = {
    key: manifest.aggregate.key,
    dtype: 'float64',
    layout: manifest.layout,
    shapes: manifest.shapes,
    length: manifest.length,
    byteSize,
    sha256,
  };
  await beforeRecord();
  return insertRunAggregateForStoredWeights(context, manifest.model, manifest.parentAgg, ref, manifest.run, strategy ?? undefined);
}

/**
 * Abandons a failed sharded run's uploads, so no part of its aggregate ever becomes an object
 * (and S3 stops keeping the parts). A run with no manifest, or whose uploads are gone, is fine.
 */
export async function abortShardedUploads(context: ConnectorContext, model: number, run: string): Promise<{ aborted: number }> {
  const manifest = await pullShardManifest(context.store(), model, run);
  if (manifest === null) return { aborted: 0 };
  const store = context.store();
  const { modelAggregates } = await context.collections();
  // The run's aggregate stands once recorded (settleRun completes its updates): nothing to abort.
  if ((await modelAggregates.countDocuments({ federatedModel: model, run })) > 0) return { aborted: 0 };
  let aborted = 0;
  for (const upload of [manifest.aggregate, manifest.optimizerState]) {
    if (upload === null || upload.uploadId === null) continue;
    await store.abortMultipart(upload.key, upload.uploadId);
    aborted += 1;
  }
  return { aborted };
}

