import type { Db } from 'mongodb';
import { updateDatabaseLayout, type DatabaseLayout } from '../db/layout';
import { getObjectStore, type ObjectStore } from '../store';
import type {
  ClientAggregateScore,
  FederatedModel,
  ModelAggregate,
  ModelArtifact,
  ModelUpdate,
} from '../entities';
import type { Weights, WeightsJson, WeightsRef } from '../weights';
import type { ShardManifest } from '../store/weights';
import type { AggregateStrategy } from '../entities/aggregate-strategy';
import type {
  ClaimResult,
  DeletedModel,
  FederatedModelChanges,
  LocalExecution,
  LeaseResult,
  MetadataConnector,
  NewFederatedModel,
  NewModelUpdate,
  NewModelUpdateUpload,
  OpenUploadLimits,
  MemberPreview,
  ModelUpdateUpload,
  Page,
  Paged,
  Ref,
  Requirements,
  RunScope,
  RunSettlement,
  TransitionResult,
} from './metadata-connector';
import * as aggregates from './mongo/aggregates';
import { ConnectorContext } from './mongo/context';
import * as credentials from './mongo/credentials';
import * as deletion from './mongo/deletion';
import * as executions from './mongo/executions';
import * as idempotency from './mongo/idempotency';
import * as leases from './mongo/leases';
import * as modelClients from './mongo/model-clients';
import * as runs from './mongo/runs';
import * as shards from './mongo/shards';
import * as sweep from './mongo/sweep';
import * as models from './mongo/models';
import * as updates from './mongo/updates';
import * as uploads from './mongo/uploads';

export { STATUS_HISTORY_LENGTH } from './mongo/queries';

/**
 * The metadata connector on MongoDB (the official driver): one facade over a module per concern,
 * each in `lib/connector/mongo/`:
 *
 * - `models.ts`: federated models
 * - `model-clients.ts`: which clients belong to which model (a collection, not an array)
 * - `updates.ts`: model updates, claims and status transitions
 * - `aggregates.ts`: aggregates, artifacts and clients' scores
 * - `leases.ts`: aggregation leases (one run per model at a time)
 * - `idempotency.ts`: one update per client and Idempotency-Key
 * - `executions.ts`: runs the local executor started (what DescribeExecution tells on AWS)
 * - `sweep.ts`: weight objects no document refers to (the daily sweep)
 * - `shards.ts`: recording a sharded run's aggregate, abandoning its uploads (issue #14)
 * - `runs.ts`: what a run holds, by its run id (claim, complete, settle after a failure)
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
export class MongoMetadataConnector implements MetadataConnector {
  private readonly context: ConnectorContext;
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
    this.context = new ConnectorContext(database, options.store ?? getObjectStore);
    this.onClose = options.onClose ?? (async () => undefined);
  }

  /** Releases a client the connector owns (one made by the factory from a connection string). */
  close(): Promise<void> {
    return this.onClose();
  }

  // --- FMA's operations -------------------------------------------------------------------

  pullFederatedModelWId(fedModelId: number): Promise<FederatedModel | null> {
    return models.pullFederatedModelWId(this.context, fedModelId);
  }

  pullLatestModelAggregate(model: Ref): Promise<ModelAggregate | null> {
    return aggregates.pullLatestModelAggregate(this.context, model);
  }

  pullModelUpdatesPendingAggregation(model: Ref): Promise<ModelUpdate[]> {
    return updates.pullModelUpdatesPendingAggregation(this.context, model);
  }

  pullModelUpdatesReadyForAggregation(model: Ref, parentAgg: Ref | null): Promise<ModelUpdate[]> {
    return updates.pullModelUpdatesReadyForAggregation(this.context, model, parentAgg);
  }

  pullModelRequirements(model: Ref): Promise<Requirements> {
    return models.pullModelRequirements(this.context, model);
  }

  registerModelUpdatesForAggregation(
    modelUpdates: readonly Ref[],
    options?: RunScope & { readonly model?: Ref },
  ): Promise<ClaimResult> {
    return updates.registerModelUpdatesForAggregation(this.context, modelUpdates, options);
  }

  pullModelUpdatesRegisteredForAggregation(model: Ref, options?: RunScope): Promise<ModelUpdate[]> {
    return updates.pullModelUpdatesRegisteredForAggregation(this.context, model, options);
  }

  postNewModelAggregate(model: Ref, parentAgg: Ref | null, results: unknown, options?: RunScope): Promise<ModelAggregate> {
    return aggregates.postNewModelAggregate(this.context, model, parentAgg, results, options);
  }

  registerModelUpdateUsedInAggregate(modelUpdates: readonly Ref[], aggregate: Ref, options?: RunScope): Promise<TransitionResult> {
    return updates.registerModelUpdateUsedInAggregate(this.context, modelUpdates, aggregate, options);
  }

  registerModelUpdatesUseInAggregationComplete(
    modelUpdates: readonly Ref[],
    isSuccessful: boolean,
    options?: RunScope & { readonly reason?: string },
  ): Promise<TransitionResult> {
    return updates.registerModelUpdatesUseInAggregationComplete(this.context, modelUpdates, isSuccessful, options);
  }

  async updateDatabase(): Promise<DatabaseLayout> {
    return updateDatabaseLayout(await this.context.database());
  }

  // --- Beyond FMA's connector ---------------------------------------------------------------

  createClient(): Promise<{ id: string; createdOn: Date; credential: string }> {
    return credentials.createClient(this.context);
  }

  createFederatedModel(input: NewFederatedModel): Promise<FederatedModel> {
    return models.createFederatedModel(this.context, input);
  }

  setModelClients(model: Ref, clients: readonly string[]): Promise<FederatedModel> {
    return models.setModelClients(this.context, model, clients);
  }

  updateFederatedModel(model: Ref, changes: FederatedModelChanges): Promise<FederatedModel> {
    return models.updateFederatedModel(this.context, model, changes);
  }

  deleteFederatedModel(model: Ref): Promise<DeletedModel> {
    return deletion.deleteFederatedModel(this.context, model);
  }

  addClientsToModel(model: Ref, clients: readonly string[]): Promise<FederatedModel> {
    return models.addClientsToModel(this.context, model, clients);
  }

  async createModelUpdate(input: NewModelUpdate): Promise<ModelUpdate> {
    const [created] = await updates.createModelUpdates(this.context, [input]);
    return created!;
  }

  createModelUpdates(inputs: readonly NewModelUpdate[]): Promise<ModelUpdate[]> {
    return updates.createModelUpdates(this.context, inputs);
  }

  pullModelUpdates(ids: readonly Ref[]): Promise<ModelUpdate[]> {
    return updates.pullModelUpdates(this.context, ids);
  }

  pullModelUpdateWeights(ids: readonly Ref[]): Promise<Map<number, Weights>> {
    return updates.pullModelUpdateWeights(this.context, ids);
  }

  pullModelAggregate(id: Ref): Promise<ModelAggregate | null> {
    return aggregates.pullModelAggregate(this.context, id);
  }

  pullModelAggregateWeights(id: Ref): Promise<Weights | null> {
    return aggregates.pullModelAggregateWeights(this.context, id);
  }

  pullModelAggregateResults(id: Ref): Promise<WeightsJson[] | null> {
    return aggregates.pullModelAggregateResults(this.context, id);
  }

  createModelArtifact(model: Ref, version: string, values: unknown): Promise<ModelArtifact> {
    return aggregates.createModelArtifact(this.context, model, version, values);
  }

  publishModelAggregate(aggregate: Ref, version: string): Promise<ModelArtifact> {
    return aggregates.publishModelAggregate(this.context, aggregate, version);
  }

  createModelUpdateUpload(input: NewModelUpdateUpload, limits?: OpenUploadLimits): Promise<ModelUpdateUpload> {
    return uploads.createModelUpdateUpload(this.context, input, limits);
  }

  completeModelUpdateUpload(upload: string, client: string): Promise<{ update: ModelUpdate; created: boolean }> {
    return uploads.completeModelUpdateUpload(this.context, upload, client);
  }

  presignWeightsDownload(weights: WeightsRef): Promise<{ url: string; expiresAt: Date }> {
    return uploads.presignWeightsDownload(this.context, weights);
  }

  createClientAggregateScore(aggregate: Ref, client: string, validationResults: unknown): Promise<ClientAggregateScore> {
    return aggregates.createClientAggregateScore(this.context, aggregate, client, validationResults);
  }

  // --- Aggregation runs ---------------------------------------------------------------------

  acquireAggregationLease(model: Ref, run: string, ttlSeconds: number, options?: { readonly maxAttempts?: number }): Promise<LeaseResult> {
    return leases.acquireAggregationLease(this.context, model, run, ttlSeconds, options);
  }

  renewAggregationLease(model: Ref, run: string, ttlSeconds: number): Promise<{ expiresAt: Date }> {
    return leases.renewAggregationLease(this.context, model, run, ttlSeconds);
  }

  createModelUpdateIdempotently(input: NewModelUpdate, idempotencyKey: string, requestHash: string): Promise<{ update: ModelUpdate; replayed: boolean }> {
    return idempotency.createModelUpdateIdempotently(this.context, input, idempotencyKey, requestHash);
  }

  sweepOrphanedWeights(olderThan: Date): Promise<{ listed: number; deleted: number }> {
    return sweep.sweepOrphanedWeights(this.context, olderThan);
  }

  deleteExpiredIdempotencyKeys(now: Date): Promise<number> {
    return idempotency.deleteExpiredIdempotencyKeys(this.context, now);
  }

  countModelUpdatesReadyForAggregation(model: Ref, parentAgg: Ref | null): Promise<number> {
    return updates.countModelUpdatesReadyForAggregation(this.context, model, parentAgg);
  }

  pullModelsWithClaimableUpdates(): Promise<number[]> {
    return models.pullModelsWithClaimableUpdates(this.context);
  }

  recordExecutionStart(name: string, model: number): Promise<boolean> {
    return executions.recordExecutionStart(this.context, name, model);
  }

  recordExecutionEnd(
    name: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; finalState: string; error: string | null; statesEntered?: number; lambdaInvocations?: number },
  ): Promise<void> {
    return executions.recordExecutionEnd(this.context, name, end);
  }

  pullExecution(name: string): Promise<LocalExecution | null> {
    return executions.pullExecution(this.context, name);
  }

  claimReadyUpdates(model: Ref, parentAgg: Ref | null, run: string): Promise<{ run: string; claimed: number }> {
    return runs.claimReadyUpdates(this.context, model, parentAgg, run);
  }

  completeRun(model: Ref, run: string, aggregate: Ref): Promise<{ completed: number }> {
    return runs.completeRun(this.context, model, run, aggregate);
  }

  settleRun(model: Ref, run: string, reason: string, maxAttempts: number): Promise<RunSettlement> {
    return runs.settleRun(this.context, model, run, reason, maxAttempts);
  }

  invalidateRunUpdates(run: string, updates: readonly number[], reason: string): Promise<{ invalid: number }> {
    return runs.invalidateRunUpdates(this.context, run, updates, reason);
  }

  assertAggregationLease(model: Ref, run: string): Promise<void> {
    return leases.assertAggregationLease(this.context, model, run);
  }

  releaseAggregationLease(model: Ref, run: string): Promise<{ released: boolean }> {
    return leases.releaseAggregationLease(this.context, model, run);
  }

  postNewModelAggregateWeights(
    model: Ref,
    parentAgg: Ref | null,
    weights: Weights,
    options?: RunScope & { readonly strategy?: AggregateStrategy },
  ): Promise<ModelAggregate> {
    return aggregates.postNewModelAggregateWeights(this.context, model, parentAgg, weights, options);
  }

  pullModelsAllowingAggregation(): Promise<number[]> {
    return models.pullModelsAllowingAggregation(this.context);
  }

  // --- The client and developer API -----------------------------------------------------------

  createDeveloper(name: string): Promise<{ id: string; name: string; token: string }> {
    return credentials.createDeveloper(this.context, name);
  }

  findDeveloperByToken(token: string): Promise<{ id: string; name: string } | null> {
    return credentials.findDeveloperByToken(this.context, token);
  }

  existingClients(ids: readonly string[]): Promise<Set<string>> {
    return credentials.existingClients(this.context, ids);
  }

  clientExists(client: string): Promise<boolean> {
    return credentials.clientExists(this.context, client);
  }

  findClientByCredential(credential: string): Promise<string | null> {
    return credentials.findClientByCredential(this.context, credential);
  }

  verifyJoinSecret(model: Ref, secret: string | undefined): Promise<boolean> {
    return credentials.verifyJoinSecret(this.context, model, secret);
  }

  pullModelsOfClient(client: string): Promise<number[]> {
    return modelClients.pullModelsOfClient(this.context, client);
  }

  isModelClient(model: Ref, client: string): Promise<boolean> {
    return modelClients.isModelClient(this.context, model, client);
  }

  pullModelClients(model: Ref): Promise<string[]> {
    return modelClients.pullModelClients(this.context, model);
  }

  pullClientsOfModels(models: readonly number[]): Promise<Map<number, string[]>> {
    return modelClients.pullClientsOfModels(this.context, models);
  }

  pullMemberPreviews(models: readonly number[]): Promise<Map<number, MemberPreview>> {
    return modelClients.pullMemberPreviews(this.context, models);
  }

  pullModelMembers(model: Ref, page: Page): Promise<Paged<{ client: string; joinedOn: Date }>> {
    return modelClients.pullModelMembers(this.context, model, page);
  }

  pullModelsOfDeveloper(developer: string): Promise<number[]> {
    return models.pullModelsOfDeveloper(this.context, developer);
  }

  listFederatedModels(filter: { developer: string; allowAggregation?: boolean }, page: Page): Promise<Paged<FederatedModel>> {
    return models.listFederatedModels(this.context, filter, page);
  }

  listModelUpdates(filter: { client?: string; models?: number[]; status?: number }, page: Page): Promise<Paged<ModelUpdate>> {
    return updates.listModelUpdates(this.context, filter, page);
  }

  listClientAggregateScores(
    filter: { client?: string; models?: number[]; aggregate?: number },
    page: Page,
  ): Promise<Paged<ClientAggregateScore>> {
    return aggregates.listClientAggregateScores(this.context, filter, page);
  }

  pullClientAggregateScore(id: Ref): Promise<ClientAggregateScore | null> {
    return aggregates.pullClientAggregateScore(this.context, id);
  }

  listModelAggregates(filter: { models: number[] }, page: Page): Promise<Paged<ModelAggregate>> {
    return aggregates.listModelAggregates(this.context, filter, page);
  }

  setAggregateValidationScore(aggregate: Ref, score: number | null): Promise<ModelAggregate> {
    return aggregates.setAggregateValidationScore(this.context, aggregate, score);
  }

  pullModelArtifactRecord(id: Ref): Promise<ModelArtifact | null> {
    return aggregates.pullModelArtifactRecord(this.context, id);
  }

  pullModelArtifact(id: Ref): Promise<{ artifact: ModelArtifact; values: Weights } | null> {
    return aggregates.pullModelArtifact(this.context, id);
  }

  // --- Sharded aggregation (issue #14) --------------------------------------------------------

  completeShardedAggregate(manifest: ShardManifest, record: AggregateStrategy | null, beforeRecord: () => Promise<void>): Promise<ModelAggregate> {
    return shards.completeShardedAggregate(this.context, manifest, record, beforeRecord);
  }

  abortShardedUploads(model: number, run: string): Promise<{ aborted: number }> {
    return shards.abortShardedUploads(this.context, model, run);
  }
}
