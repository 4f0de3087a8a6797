import { randomUUID } from 'node:crypto';
import { ConflictError } from '../../errors';
import { fromStoredWeightsRef, type WeightsRef } from '../../weights';
import type { DeletedModel, Ref } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { acquireAggregationLease, releaseAggregationLease } from './leases';
import { forgetModel } from './member-cache';
import { deleteModelClients } from './model-clients';
import { requireModel } from './models';
import { deleteWeights } from '../../store/weights';

// Deleting a model and everything that belongs to it.

/** How long the delete holds the model's lease: far longer than a delete takes; it is released at the end. */
const DELETE_LEASE_SECONDS = 600;

/**
 * Deletes the model with its updates, pending binary uploads, aggregates, artifacts, clients'
 * scores, memberships, run records, secure rounds and their stored weights. Refused (ConflictError) while a run holds the model's
 * aggregation lease. The delete takes that lease itself, under a run id of its own, so that no
 * run starts while it works (a scheduled run finds the lease held and stops). Documents go
 * before the model, so a delete that fails half-way can be repeated; a second sweep after the
 * model is gone catches a write that raced with the first.
 */
export async function deleteFederatedModel(context: ConnectorContext, model: Ref): Promise<DeletedModel> {
  const id = parseArgument(RefSchema, model, 'model');
  await requireModel(context, id);
  const run = `delete-model:${randomUUID()}`;
  const lease = await acquireAggregationLease(context, id, run, DELETE_LEASE_SECONDS);
  if (!lease.acquired) {
    throw new ConflictError(
      `Federated model ${id} is being aggregated (run ${lease.heldBy}, until ${lease.expiresAt.toISOString()}); delete it when the run is over`,
    );
  }
  try {
    const first = await sweep(context, id);
    const { federatedModels } = await context.collections();
    await federatedModels.deleteOne({ _id: id });
    const second = await sweep(context, id);
    // The model's run records go with it (no run can add one: the delete holds the lease).
    await (await context.collections()).aggregationRuns.deleteMany({ model: id });
    // Memberships last: until the model is gone, its clients keep their access to what remains.
    await deleteModelClients(context, id);
    forgetModel(context, id);
    return Object.fromEntries(
      Object.entries(first).map(([kind, count]) => [kind, count + second[kind as keyof DeletedModel]]),
    ) as unknown as DeletedModel;
  } finally {
    await releaseAggregationLease(context, id, run);
  }
}

async function sweep(context: ConnectorContext, model: number): Promise<DeletedModel> {
  const { modelUpdates, modelUpdateUploads, modelAggregates, modelArtifacts, clientAggregateScores, secureRounds, secureRoundMessages } = await context.collections();
  const projection = { projection: { _id: 1, weights: 1 } } as const;
  const [updates, uploads, aggregates, artifacts] = await Promise.all([
    modelUpdates.find({ federatedModel: model }, projection).toArray(),
    modelUpdateUploads.find({ federatedModel: model }, { projection: { _id: 1, declared: 1 } }).toArray(),
    modelAggregates.find({ federatedModel: model }, { projection: { _id: 1, weights: 1, strategy: 1 } }).toArray(),
    modelArtifacts.find({ federatedModel: model }, projection).toArray(),
  ]);
  const refs: WeightsRef[] = [
    ...[...updates, ...aggregates, ...artifacts].flatMap((document) => (document.weights ? [fromStoredWeightsRef(document.weights)] : [])),
    ...uploads.flatMap((upload) => (upload.declared ? [fromStoredWeightsRef(upload.declared)] : [])),
  ];
  // Documents first: a document never points at bytes that are gone.
  const aggregateIds = aggregates.map((aggregate) => aggregate._id);
  const [scores, updatesDeleted, uploadsDeleted, aggregatesDeleted, artifactsDeleted] = await Promise.all([
    aggregateIds.length === 0 ? { deletedCount: 0 } : clientAggregateScores.deleteMany({ aggregate: { $in: aggregateIds } }),
    modelUpdates.deleteMany({ federatedModel: model }),
    modelUpdateUploads.deleteMany({ federatedModel: model }),
    modelAggregates.deleteMany({ federatedModel: model }),
    modelArtifacts.deleteMany({ federatedModel: model }),
  ]);
  await deleteWeights(context.store(), refs);
  // Secure rounds (issue #28): the masked inputs' objects, the messages, the rounds.
  const roundIds = (await secureRounds.find({ federatedModel: model }, { projection: { _id: 1 } }).toArray()).map((round) => round._id);
  const inputKeys =
    roundIds.length === 0
      ? []
      : (await secureRoundMessages.find({ round: { $in: roundIds }, stage: 'masked_input' }, { projection: { input: 1 } }).toArray()).flatMap((message) =>
          message.input ? [message.input.key] : [],
        );
  if (roundIds.length > 0) await secureRoundMessages.deleteMany({ round: { $in: roundIds } });
  const roundsDeleted = await secureRounds.deleteMany({ federatedModel: model });
  if (inputKeys.length > 0) await context.store().delete(inputKeys);
  // Server-optimizer state beside the aggregates (issue #11).
  const stateKeys = aggregates.flatMap((aggregate) => (aggregate.strategy?.optimizerState ? [aggregate.strategy.optimizerState.key] : []));
  if (stateKeys.length > 0) await context.store().delete(stateKeys);
  return {
    updates: updatesDeleted.deletedCount,
    uploads: uploadsDeleted.deletedCount,
    aggregates: aggregatesDeleted.deletedCount,
    artifacts: artifactsDeleted.deletedCount,
    scores: scores.deletedCount,
    secureRounds: roundsDeleted.deletedCount,
    objects: new Set(refs.map((ref) => ref.key)).size + stateKeys.length + inputKeys.length,
  };
}
