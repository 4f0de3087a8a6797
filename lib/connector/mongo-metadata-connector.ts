import type { Db } from 'mongodb';
import { updateDatabaseLayout } from '../db/layout';
import { getObjectStore, type ObjectStore } from '../store';
import { traced, tracer } from '../observability';
import type { MetadataConnector } from './metadata-connector';
import * as aggregates from './mongo/aggregates';
import { ConnectorContext } from './mongo/context';
import * as credentials from './mongo/credentials';
import * as deletion from './mongo/deletion';
import * as executions from './mongo/executions';
import * as idempotency from './mongo/idempotency';
import * as leases from './mongo/leases';
import * as memberCache from './mongo/member-cache';
import * as modelClients from './mongo/model-clients';
import * as runs from './mongo/runs';
import * as runRecords from './mongo/run-records';
import * as shards from './mongo/shards';
import * as sweep from './mongo/sweep';
import * as models from './mongo/models';
import * as rateLimits from './mongo/rate-limits';
import * as secureRounds from './mongo/secure-rounds';
import * as updates from './mongo/updates';
import * as uploads from './mongo/uploads';

export { STATUS_HISTORY_LENGTH } from './mongo/queries';

/**
 * Every operation of {@link MetadataConnector} as the function that implements it, which takes the
 * context first: the interface is the one place that declares an operation, each module of
 * `mongo/` the one place that implements it, and this table only says which is which. A missing,
 * extra or mistyped entry does not compile.
 */
type Operations = {
  [K in keyof MetadataConnector]: (context: ConnectorContext, ...args: Parameters<MetadataConnector[K]>) => ReturnType<MetadataConnector[K]>;
};

const operations = {
  // --- FMA's operations
  pullFederatedModelWId: models.pullFederatedModelWId,
  pullLatestModelAggregate: aggregates.pullLatestModelAggregate,
  pullModelUpdatesPendingAggregation: updates.pullModelUpdatesPendingAggregation,
  pullModelUpdatesReadyForAggregation: updates.pullModelUpdatesReadyForAggregation,
  pullModelRequirements: models.pullModelRequirements,
  registerModelUpdatesForAggregation: updates.registerModelUpdatesForAggregation,
  pullModelUpdatesRegisteredForAggregation: updates.pullModelUpdatesRegisteredForAggregation,
  postNewModelAggregate: aggregates.postNewModelAggregate,
  registerModelUpdateUsedInAggregate: updates.registerModelUpdateUsedInAggregate,
  registerModelUpdatesUseInAggregationComplete: updates.registerModelUpdatesUseInAggregationComplete,
  updateDatabase: async (context) => updateDatabaseLayout(await context.database()),

  // --- Beyond FMA's connector
  createClient: credentials.createClient,
  createFederatedModel: models.createFederatedModel,
  setModelClients: models.setModelClients,
  updateFederatedModel: models.updateFederatedModel,
  deleteFederatedModel: deletion.deleteFederatedModel,
  addClientsToModel: models.addClientsToModel,
  joinModel: memberCache.joinModel,
  createModelUpdate: async (context, input) => (await updates.createModelUpdates(context, [input]))[0]!,
  createModelUpdates: updates.createModelUpdates,
  pullModelUpdates: updates.pullModelUpdates,
  pullModelUpdateWeights: updates.pullModelUpdateWeights,
  pullModelAggregate: aggregates.pullModelAggregate,
  pullModelAggregateWeights: aggregates.pullModelAggregateWeights,
  pullModelAggregateResults: aggregates.pullModelAggregateResults,
  createModelArtifact: aggregates.createModelArtifact,
  publishModelAggregate: aggregates.publishModelAggregate,
  createModelUpdateUpload: uploads.createModelUpdateUpload,
  completeModelUpdateUpload: uploads.completeModelUpdateUpload,
  claimModelUpdateUploadCompletion: uploads.claimModelUpdateUploadCompletion,
  verifyModelUpdateUpload: uploads.verifyModelUpdateUpload,
  createClientAggregateScore: aggregates.createClientAggregateScore,

  // --- Aggregation runs
  acquireAggregationLease: leases.acquireAggregationLease,
  renewAggregationLease: leases.renewAggregationLease,
  createModelUpdateIdempotently: idempotency.createModelUpdateIdempotently,
  sweepOrphanedWeights: sweep.sweepOrphanedWeights,
  deleteExpiredIdempotencyKeys: idempotency.deleteExpiredIdempotencyKeys,
  countRequestFromSource: rateLimits.countRequestFromSource,
  deleteEndedRateLimitWindows: rateLimits.deleteEndedRateLimitWindows,
  pullSecureRound: secureRounds.pullSecureRound,
  advertiseSecureRoundKeys: secureRounds.advertiseSecureRoundKeys,
  submitSecureRoundShares: secureRounds.submitSecureRoundShares,
  pullSecureRoundInbox: secureRounds.pullSecureRoundInbox,
  declareMaskedInput: secureRounds.declareMaskedInput,
  completeMaskedInput: secureRounds.completeMaskedInput,
  revealSecureRoundShares: secureRounds.revealSecureRoundShares,
  advanceDueSecureRounds: secureRounds.advanceDueSecureRounds,
  startSecureRoundSum: secureRounds.startSecureRoundSum,
  pullSecureRoundReveals: secureRounds.pullSecureRoundReveals,
  pullMaskedInputs: secureRounds.pullMaskedInputs,
  endSecureRound: secureRounds.endSecureRound,
  pullAggregateOfRun: aggregates.pullAggregateOfRun,
  countModelUpdatesReadyForAggregation: updates.countModelUpdatesReadyForAggregation,
  pullModelsWithClaimableUpdates: models.pullModelsWithClaimableUpdates,
  oldestClaimableUpdate: models.oldestClaimableUpdate,
  recordExecutionStart: executions.recordExecutionStart,
  recordExecutionEnd: executions.recordExecutionEnd,
  pullExecution: executions.pullExecution,
  recordRunState: runRecords.recordRunState,
  listAggregationRuns: runRecords.listAggregationRuns,
  pullAggregationRun: runRecords.pullAggregationRun,
  deleteExpiredAggregationRuns: runRecords.deleteExpiredAggregationRuns,
  claimReadyUpdates: runs.claimReadyUpdates,
  completeRun: runs.completeRun,
  settleRun: runs.settleRun,
  invalidateRunUpdates: runs.invalidateRunUpdates,
  assertAggregationLease: leases.assertAggregationLease,
  releaseAggregationLease: leases.releaseAggregationLease,
  postNewModelAggregateWeights: aggregates.postNewModelAggregateWeights,
  pullModelsAllowingAggregation: models.pullModelsAllowingAggregation,

  // --- The client and developer API
  createDeveloper: credentials.createDeveloper,
  findDeveloperByToken: credentials.findDeveloperByToken,
  existingClients: credentials.existingClients,
  findClientByCredential: credentials.findClientByCredential,
  verifyJoinSecret: credentials.verifyJoinSecret,
  pullModelsOfClient: modelClients.pullModelsOfClient,
  isModelClient: modelClients.isModelClient,
  pullModelForClient: memberCache.pullModelForClient,
  pullModelOfAggregate: memberCache.pullModelOfAggregate,
  pullModelClients: modelClients.pullModelClients,
  pullClientsOfModels: modelClients.pullClientsOfModels,
  pullMemberPreviews: modelClients.pullMemberPreviews,
  pullModelMembers: modelClients.pullModelMembers,
  pullModelsOfDeveloper: models.pullModelsOfDeveloper,
  listFederatedModels: models.listFederatedModels,
  listModelUpdates: updates.listModelUpdates,
  listClientAggregateScores: aggregates.listClientAggregateScores,
  pullClientAggregateScore: aggregates.pullClientAggregateScore,
  listModelAggregates: aggregates.listModelAggregates,
  setAggregateValidationScore: aggregates.setAggregateValidationScore,
  pullModelArtifactRecord: aggregates.pullModelArtifactRecord,
  pullModelArtifact: aggregates.pullModelArtifact,

  // --- Sharded aggregation (issue #14)
  completeShardedAggregate: shards.completeShardedAggregate,
  abortShardedUploads: shards.abortShardedUploads,
} satisfies Operations;

/**
 * Instances hold every operation of the table bound to one context (own properties, bound once
 * in the constructor): what `implements MetadataConnector` needs, without a forwarding method each.
 * With tracing on, each call is an X-Ray subsegment `## connector.<operation>` (the database's
 * part of a request; the store's calls are subsegments of their own).
 */
const BoundOperations = class {
  constructor(context: ConnectorContext) {
    for (const [name, operation] of Object.entries(operations) as [string, (context: ConnectorContext, ...args: unknown[]) => Promise<unknown>][]) {
      const call =
        tracer === undefined
          ? (...args: unknown[]) => operation(context, ...args)
          : (...args: unknown[]) => traced(`connector.${name}`, () => operation(context, ...args));
      Object.defineProperty(this, name, { value: call, enumerable: true });
    }
  }
  // The table's `satisfies Operations` is what checks these are the interface's operations.
} as unknown as new (context: ConnectorContext) => MetadataConnector;

/**
 * The metadata connector on MongoDB (the official driver): one facade over a module per concern,
 * each in `lib/connector/mongo/`:
 *
 * - `models.ts`: federated models
 * - `model-clients.ts`: which clients belong to which model (a collection, not an array)
 * - `member-cache.ts`: models, memberships and aggregates' models as each round's client requests read them, kept per container
 * - `updates.ts`: model updates, claims and status transitions
 * - `aggregates.ts`: aggregates, artifacts and clients' scores
 * - `leases.ts`: aggregation leases (one run per model at a time)
 * - `idempotency.ts`: one update per client and Idempotency-Key
 * - `executions.ts`: runs the local executor started (what DescribeExecution tells on AWS)
 * - `sweep.ts`: weight objects no document refers to (the daily sweep)
 * - `shards.ts`: recording a sharded run's aggregate, abandoning its uploads (issue #14)
 * - `runs.ts`: what a run holds, by its run id (claim, complete, settle after a failure)
 * - `run-records.ts`: each run's record, written by its own tasks (what the developer's runs view shows)
 * - `credentials.ts`: developers' tokens, clients, join secrets
 * - `deletion.ts`: deleting a model with everything that belongs to it
 * - `uploads.ts`: binary updates uploaded with presigned URLs, checked, then made updates
 *
 * Weight bytes are not here: `lib/store/weights/` reads and writes them over the object store;
 * these modules call it where an operation writes bytes and a document together.
 *
 * It takes the database or a function that yields it, so Lambda handlers pass the container's
 * shared client and tests pass their own.
 */
export class MongoMetadataConnector extends BoundOperations implements MetadataConnector {
  private readonly onClose: () => Promise<void>;

  /**
   * @param database the database, or a function that yields it
   * @param options.store where weight bytes live; by default the container's object store (config)
   * @param options.onClose releases what the connector owns (a client made from a connection string)
   */
  constructor(
    database: Db | (() => Promise<Db>),
    options: { readonly store?: ObjectStore | (() => ObjectStore); readonly onClose?: () => Promise<void> } = {},
  ) {
    super(new ConnectorContext(database, options.store ?? getObjectStore));
    this.onClose = options.onClose ?? (async () => undefined);
  }

  /** Releases a client the connector owns (one made by the factory from a connection string). */
  close(): Promise<void> {
    return this.onClose();
  }
}
