import type {
  AggregationRun,
  AggregationRunShownStatus,
  ClientAggregateScore,
  FederatedModel,
  ModelAggregate,
  ModelArtifact,
  ModelUpdate,
  RunError,
} from '../entities';
import type { AggregateStrategy } from '../entities/aggregate-strategy';
import type { SecureAggregationOptionsInput, SecureRound, SecureRoundReveal } from '../entities/secure-aggregation';

export type { SecureRoundReveal } from '../entities/secure-aggregation';
import type { DatabaseLayout } from '../db/layout';
import type { Weights, WeightsDtype, WeightsJson, WeightsRef, WeightsShape } from '../weights';
import type { ShardManifest } from '../store/weights';
import type { LocalExecutionDocument } from '../db/collections';

/** A binary update as a client declares it, before its bytes are uploaded. */
export interface NewModelUpdateUpload {
  readonly federatedModel: number;
  readonly client: string;
  readonly baseAggregate?: number | null;
  readonly numExamples?: number | null;
  readonly dtype: WeightsDtype;
  /** Shape of each layer; one layer with `layout: 'vector'` is a flat list. */
  readonly shapes: number[][];
  readonly layout?: 'vector' | 'layers';
  /** Hex SHA-256 of the bytes the client will PUT. */
  readonly sha256: string;
}

/** What asking to complete an upload found. */
export type UploadCompletionClaim =
  /** Completed before: the update it became. */
  | { readonly state: 'complete'; readonly update: ModelUpdate }
  /**
   * This caller now holds the completion: it verifies it (`verifyModelUpdateUpload`) when
   * `inline`, else it hands it to the verification function.
   */
  | { readonly state: 'claimed'; readonly byteSize: number; readonly inline: boolean }
  /** Another caller holds it, and has not held it long enough to be taken over. */
  | { readonly state: 'verifying'; readonly byteSize: number; readonly inline: boolean };

/** A declared binary upload: where to PUT its bytes, and until when. */
export interface ModelUpdateUpload {
  readonly id: string;
  readonly federatedModel: number;
  readonly declared: WeightsRef;
  readonly expiresAt: Date;
  /** Where to PUT the bytes, and until when the URL works. */
  readonly url: string;
  readonly urlExpiresAt: Date;
}

/**
 * How much one client may have declared and not completed on one model at a time (issue #24):
 * past either bound a declaration is 429 with `Retry-After`. Set by the API from
 * UPLOAD_MAX_OPEN_PER_CLIENT and UPLOAD_MAX_OPEN_MB_PER_CLIENT.
 */
export interface OpenUploadLimits {
  readonly maxOpen: number;
  readonly maxOpenBytes: number;
}

/** At most `max` requests in each window of `windowSeconds` (0: no limit). */
export interface RateLimit {
  readonly max: number;
  readonly windowSeconds: number;
}

/** The members a model's representation lists. */
export interface MemberPreview {
  /** The first members (at most MEMBERS_INLINE_MAX), in the order they joined. */
  readonly clients: string[];
  /** How many members the model has in all. */
  readonly total: number;
}

/** An entity passed by its id or as the entity itself (as FMA passed model objects). */
export type Ref = number | { readonly id: number };

/** What a claim did: the run that holds the updates, and which of those asked for it holds. */
export interface ClaimResult {
  readonly run: string;
  /** Updates this run holds (RUNNING, claimed by it), including ones it had claimed before. */
  readonly claimed: number[];
  /** Updates it does not hold: another run has them, or they are COMPLETE or INVALID. */
  readonly notClaimed: number[];
}

/** What a status or bookkeeping transition did, per update. */
export interface TransitionResult {
  readonly updated: number[];
  /** Updates not in the state the transition expects (e.g. no longer RUNNING, or another run's). */
  readonly notUpdated: number[];
}

/** What a delete removed, by kind. */
export interface DeletedModel {
  readonly updates: number;
  readonly uploads: number;
  readonly aggregates: number;
  readonly artifacts: number;
  readonly scores: number;
  /** Secure rounds (issue #28), with their messages and masked inputs. */
  readonly secureRounds: number;
  readonly objects: number;
}

/** What a PUT or PATCH may change (membership goes through {@link setModelClients}). */
export type FederatedModelChanges = Partial<
  Pick<
    NewFederatedModel,
    'name' | 'aggregator' | 'aggregatorParams' | 'requirement' | 'requirementArgs' | 'updateSchema' | 'clientAggResultsSchema' | 'furthestBaseAgg' | 'allowAggregation' | 'secureAggregation'
  >
>;

/** What became of a run's updates when it was settled after a failure or a crash. */
export interface RunSettlement {
  /** The run's aggregate, if it wrote one: its updates are then in it, and complete. */
  readonly aggregate: number | null;
  readonly completed: number;
  /** Returned to the pool (FAILED), to be claimed again. */
  readonly failed: number;
  /** Given up on after too many failed attempts (INVALID, with the reason). */
  readonly invalid: number;
}

export interface LocalExecution {
  readonly name: string;
  readonly model: number;
  readonly status: LocalExecutionDocument['status'];
  readonly finalState: string | null;
  readonly error: string | null;
  readonly startedAt: Date;
  readonly stoppedAt: Date | null;
  readonly statesEntered?: number;
  readonly lambdaInvocations?: number;
}

/**
 * What one Task state of an aggregation run reports of itself when its function ends (the task
 * wrapper sends it: lib/http/run-recording.ts): its entry, and what it learnt about the run.
 */
export interface RunStateReport {
  readonly run: string;
  readonly model: number;
  readonly state: string;
  /** The execution's start, as Step Functions tells it (`$$.Execution.StartTime`). */
  readonly startedAt?: Date;
  readonly enteredAt: Date;
  readonly exitedAt: Date;
  /** What the task threw, if it threw. */
  readonly error?: RunError | null;
  /** What Step Functions caught and fails the run with (the run's last task reports it). */
  readonly caught?: { readonly error: string; readonly cause: string | null } | null;
  readonly claimed?: number;
  readonly aggregate?: number;
  /** The run ends with this state: its final state and status. */
  readonly end?: { readonly finalState: string; readonly status: 'SUCCEEDED' | 'FAILED' };
}

export type Requirements = [requirement: string | null, requirementArgs: unknown[]];

export interface RunScope {
  /** The aggregation run acting; when given, only updates it claimed are touched or returned. */
  readonly run?: string;
}

export interface NewFederatedModel {
  readonly name: string;
  readonly developer?: string | null;
  readonly clients?: readonly string[];
  readonly aggregator: string;
  /** The strategy's parameters (issue #11); null or absent: none. */
  readonly aggregatorParams?: Readonly<Record<string, unknown>> | null;
  readonly requirement?: string | null;
  readonly requirementArgs?: readonly unknown[];
  readonly updateSchema?: Record<string, unknown> | null;
  readonly clientAggResultsSchema?: Record<string, unknown> | null;
  readonly furthestBaseAgg?: number | null;
  readonly allowAggregation?: boolean;
  /** Issue #28: secure aggregation's settings (threshold, clip_range, bits, ...); null: none. */
  readonly secureAggregation?: SecureAggregationOptionsInput | null;
  /** When set, a new client must show this secret to join (FMA let anyone register). */
  readonly joinSecret?: string | null;
}

export interface NewModelUpdate {
  readonly federatedModel: number;
  readonly client: string;
  readonly data: unknown;
  readonly baseAggregate?: number | null;
  readonly numExamples?: number | null;
  /** The client's Idempotency-Key (see createModelUpdateIdempotently). */
  readonly idempotencyKey?: string | null;
}

/**
 * The metadata connector: every operation of FMA's `BaseMetadataConnector` (the seed page), with
 * the fixes of SPEC §3, plus the reads and writes the API and the aggregation need.
 * Implementations throw the errors of `lib/errors` (ValidationError, NotFoundError, ...) and
 * write nothing when they do.
 */
export interface MetadataConnector {
  // --- FMA's operations -------------------------------------------------------------------
  /** The model, or null when none has that id. */
  pullFederatedModelWId(fedModelId: number): Promise<FederatedModel | null>;
  /** The model's newest aggregate (by creation time, then id), or null. */
  pullLatestModelAggregate(model: Ref): Promise<ModelAggregate | null>;
  /** PENDING or FAILED updates of the model whose client is in the model. */
  pullModelUpdatesPendingAggregation(model: Ref): Promise<ModelUpdate[]>;
  /** The pending updates, limited to the `furthestBaseAgg` window ending at `parentAgg` itself. */
  pullModelUpdatesReadyForAggregation(model: Ref, parentAgg: Ref | null): Promise<ModelUpdate[]>;
  /** `[requirement, requirementArgs]`. */
  pullModelRequirements(model: Ref): Promise<Requirements>;
  /** PENDING/FAILED → RUNNING for exactly these updates, in one guarded `updateMany`. */
  registerModelUpdatesForAggregation(
    modelUpdates: readonly Ref[],
    options?: RunScope & { readonly model?: Ref },
  ): Promise<ClaimResult>;
  /** The model's RUNNING updates; with a run, only those it claimed. */
  pullModelUpdatesRegisteredForAggregation(model: Ref, options?: RunScope): Promise<ModelUpdate[]>;
  /** Stores a new aggregate whose parent is `parentAgg` (level = parent's + 1, or 0). */
  postNewModelAggregate(model: Ref, parentAgg: Ref | null, results: unknown, options?: RunScope): Promise<ModelAggregate>;
  /** Records the aggregate on RUNNING updates; their status stays RUNNING. */
  registerModelUpdateUsedInAggregate(
    modelUpdates: readonly Ref[],
    aggregate: Ref,
    options?: RunScope,
  ): Promise<TransitionResult>;
  /** RUNNING → COMPLETE when successful, RUNNING → FAILED (eligible again) when not. */
  registerModelUpdatesUseInAggregationComplete(
    modelUpdates: readonly Ref[],
    isSuccessful: boolean,
    options?: RunScope & { readonly reason?: string },
  ): Promise<TransitionResult>;
  /** Creates collections and indexes; safe to run twice and concurrently. */
  updateDatabase(): Promise<DatabaseLayout>;

  // --- Beyond FMA's connector: what the API and the aggregation need -------------------------
  /** A new client: `id` is public; `credential` (its CLIENT-UUID) is returned only here and stored hashed. */
  createClient(): Promise<{ id: string; createdOn: Date; credential: string }>;
  createFederatedModel(input: NewFederatedModel): Promise<FederatedModel>;
  addClientsToModel(model: Ref, clients: readonly string[]): Promise<FederatedModel>;
  /**
   * A client joins a model (registration): one upsert of its membership, which the container then
   * knows; the model is not read or touched (its `lastModified` is its settings', as FMA's, whose
   * members were a many-to-many field). Joining twice, or twice at once, leaves one membership.
   */
  joinModel(model: number, client: string): Promise<void>;
  /** The model's members become exactly `clients`. */
  setModelClients(model: Ref, clients: readonly string[]): Promise<FederatedModel>;
  /** Changes a model's settings with the checks of creation; applies from the next run on. */
  updateFederatedModel(model: Ref, changes: FederatedModelChanges): Promise<FederatedModel>;
  /**
   * Deletes the model and its updates, uploads, aggregates, artifacts, scores and stored weights;
   * ConflictError while a run holds its lease.
   */
  deleteFederatedModel(model: Ref): Promise<DeletedModel>;
  createModelUpdate(input: NewModelUpdate): Promise<ModelUpdate>;
  /**
   * The same, once per (client, Idempotency-Key): a retry gets the update the first request
   * created (`replayed`), even when the two race; a key reused for another request is a ConflictError.
   */
  createModelUpdateIdempotently(input: NewModelUpdate, idempotencyKey: string, requestHash: string): Promise<{ update: ModelUpdate; replayed: boolean }>;
  /** Many updates in one write (bulk loads, benchmarks); the same checks as createModelUpdate. */
  createModelUpdates(inputs: readonly NewModelUpdate[]): Promise<ModelUpdate[]>;
  pullModelUpdates(ids: readonly Ref[]): Promise<ModelUpdate[]>;
  pullModelUpdateWeights(ids: readonly Ref[]): Promise<Map<number, Weights>>;
  pullModelAggregate(id: Ref): Promise<ModelAggregate | null>;
  pullModelAggregateWeights(id: Ref): Promise<Weights | null>;
  /** Weights as JSON, as the caller sent them. */
  pullModelAggregateResults(id: Ref): Promise<WeightsJson[] | null>;
  createModelArtifact(model: Ref, version: string, values: unknown): Promise<ModelArtifact>;
  /** Publishes an aggregate's weights as a versioned artifact, the model's current one. */
  publishModelAggregate(aggregate: Ref, version: string): Promise<ModelArtifact>;
  /** Declares a binary update and returns a presigned URL to PUT its bytes to (see uploads.ts). */
  createModelUpdateUpload(input: NewModelUpdateUpload, limits?: OpenUploadLimits): Promise<ModelUpdateUpload>;
  /** Checks the uploaded bytes and makes them a PENDING update; again: the same update, `created: false`. */
  completeModelUpdateUpload(upload: string, client: string): Promise<{ update: ModelUpdate; created: boolean }>;
  /** The first half of a completion: takes it for this caller, one at a time (see uploads.ts). */
  claimModelUpdateUploadCompletion(upload: string, client: string, verifyInlineMaxBytes?: number): Promise<UploadCompletionClaim>;
  /** The second half, by the claim's holder: checks the bytes and makes them a PENDING update. */
  verifyModelUpdateUpload(upload: string): Promise<{ update: ModelUpdate; created: boolean }>;
  /** A presigned GET URL for stored weights (large aggregates and artifacts are read this way). */
  createClientAggregateScore(aggregate: Ref, client: string, validationResults: unknown): Promise<ClientAggregateScore>;

  // --- Aggregation runs ---------------------------------------------------------------------
  /**
   * Takes the model's aggregation lease for `run` (or renews it, if the run holds it). A lease
   * that expired is taken over, and the updates its dead run left RUNNING are marked FAILED first,
   * so they are eligible again.
   */
  acquireAggregationLease(model: Ref, run: string, ttlSeconds: number, options?: { readonly maxAttempts?: number }): Promise<LeaseResult>;
  /** Extends the lease the run holds; ConflictError when another run has taken it over. */
  renewAggregationLease(model: Ref, run: string, ttlSeconds: number): Promise<{ expiresAt: Date }>;
  /** Claims every ready update of the model for the run (one guarded `updateMany`); answers how many the run holds. */
  claimReadyUpdates(model: Ref, parentAgg: Ref | null, run: string): Promise<{ run: string; claimed: number }>;
  /** RUNNING → COMPLETE, with the aggregate recorded, for every update the run holds, in one write. */
  completeRun(model: Ref, run: string, aggregate: Ref): Promise<{ completed: number }>;
  /**
   * Ends a failed or dead run: its aggregate, if written, stands and its updates complete;
   * otherwise they go back to the pool with one more failed attempt, INVALID at `maxAttempts`.
   */
  settleRun(model: Ref, run: string, reason: string, maxAttempts: number): Promise<RunSettlement>;
  /** RUNNING → INVALID for updates of the run that can never be aggregated. */
  invalidateRunUpdates(run: string, updates: readonly number[], reason: string): Promise<{ invalid: number }>;
  /** Throws ConflictError unless `run` holds an unexpired lease on the model. */
  assertAggregationLease(model: Ref, run: string): Promise<void>;
  releaseAggregationLease(model: Ref, run: string): Promise<{ released: boolean }>;
  /** Stores an aggregate from weights already in memory (the aggregation Lambda's path). */
  postNewModelAggregateWeights(
    model: Ref,
    parentAgg: Ref | null,
    weights: Weights,
    options?: RunScope & { readonly strategy?: AggregateStrategy },
  ): Promise<ModelAggregate>;
  /** Deletes weight objects written before `olderThan` that no document refers to (the daily sweep). */
  sweepOrphanedWeights(olderThan: Date): Promise<{ listed: number; deleted: number }>;
  /** Forgets Idempotency-Keys older than a day (the TTL index's work, where the server has none). */
  deleteExpiredIdempotencyKeys(now: Date): Promise<number>;
  /** Counts a request of `action` from `source`; past `limit` in the current window, a 429 (TooManyRequestsError). */
  countRequestFromSource(action: string, source: string, limit: RateLimit, now?: Date): Promise<void>;
  /** Deletes the rate-limit windows that have ended (the daily sweep, where there is no TTL index). */
  deleteEndedRateLimitWindows(now: Date): Promise<number>;

  // --- Secure aggregation (issue #28; docs/secure-aggregation-protocol.md)
  /** The model's newest round (or the numbered one), its stage closed first if it is due; null: none. */
  pullSecureRound(model: number, number: number | null, now?: Date): Promise<SecureRoundStep | null>;
  /** Key advertisement: joins the model's open round, or opens the next. */
  advertiseSecureRoundKeys(model: number, client: string, keys: NewSecureRoundKeys, now?: Date): Promise<SecureRoundStep>;
  /** Share distribution: one ciphertext for each other participant. */
  submitSecureRoundShares(model: number, client: string, round: number, shares: readonly SecureRoundShare[], now?: Date): Promise<SecureRoundStep>;
  /** The ciphertexts the round's sharers addressed to this client. */
  pullSecureRoundInbox(model: number, client: string, round: number): Promise<SecureRoundInboxShare[]>;
  /** Masked input: a presigned URL for the bytes. */
  declareMaskedInput(model: number, client: string, round: number, sha256: string): Promise<MaskedInputUpload>;
  /** Masked input: the uploaded bytes checked and counted. */
  completeMaskedInput(model: number, client: string, round: number, upload: string, now?: Date): Promise<SecureRoundStep>;
  /** Unmasking: the shares the sum needs, from a client that sent its masked input. */
  revealSecureRoundShares(model: number, client: string, round: number, reveals: readonly SecureRoundReveal[], now?: Date): Promise<SecureRoundStep>;
  /** Closes every due stage (the schedule) and returns the rounds ready to sum. */
  advanceDueSecureRounds(now?: Date): Promise<SecureRound[]>;
  /** The model's round ready to sum, now this run's (and the run that had it before, if any); null: none. */
  startSecureRoundSum(model: number, run: string): Promise<{ round: SecureRound; previousRun: string | null } | null>;
  pullSecureRoundReveals(roundId: string): Promise<{ client: string; reveals: SecureRoundReveal[] }[]>;
  pullMaskedInputs(roundId: string): Promise<{ client: string; key: string; byteSize: number; sha256: string }[]>;
  /** The aggregate a run wrote, if it wrote one. */
  pullAggregateOfRun(model: number, run: string): Promise<ModelAggregate | null>;
  /** Ends a round being summed: complete with its aggregate, or failed with why. */
  endSecureRound(roundId: string, outcome: { readonly aggregate: number } | { readonly failureReason: string }, now?: Date): Promise<boolean>;
  /** Ids of the models whose `allowAggregation` is set. */
  pullModelsAllowingAggregation(): Promise<number[]>;
  /** How many updates are ready for aggregation under `parentAgg` (a count, not the documents). */
  countModelUpdatesReadyForAggregation(model: Ref, parentAgg: Ref | null): Promise<number>;
  /** Ids of the models with `allowAggregation` that have claimable updates (the schedule's candidates). */
  pullModelsWithClaimableUpdates(): Promise<number[]>;
  /** The claimable update that has waited longest among these models', or null (the pending-age metric). */
  oldestClaimableUpdate(models: readonly number[]): Promise<{ model: number; update: number; createdOn: Date } | null>;
  /** The local executor's record of a run it starts; false when one of that name exists. */
  recordExecutionStart(name: string, model: number): Promise<boolean>;
  recordExecutionEnd(
    name: string,
    end: { status: 'SUCCEEDED' | 'FAILED'; finalState: string; error: string | null; statesEntered?: number; lambdaInvocations?: number },
  ): Promise<void>;
  /** How a run started by the local executor is going or ended; null for an unknown name. */
  pullExecution(name: string): Promise<LocalExecution | null>;
  /** Adds a Task state's entry, and what it learnt, to its run's record (one upsert; see run-records.ts). */
  recordRunState(report: RunStateReport): Promise<void>;
  /**
   * A model's runs, newest first, without their states; `status` TIMED_OUT means RUNNING records
   * older than the state machine's timeout, and RUNNING only younger ones.
   */
  listAggregationRuns(model: Ref, filter: { readonly status?: AggregationRunShownStatus; readonly now?: Date }, page: Page): Promise<Paged<AggregationRun>>;
  /** One run of the model, with its states; null when the model has no run of that name. */
  pullAggregationRun(model: Ref, name: string): Promise<AggregationRun | null>;
  /** Forgets runs older than AGGREGATION_RUN_TTL_SECONDS (the TTL index's work, where the server has none). */
  deleteExpiredAggregationRuns(now: Date): Promise<number>;

  // --- The client and developer API -----------------------------------------------------------
  createDeveloper(name: string): Promise<{ id: string; name: string; token: string }>;
  findDeveloperByToken(token: string): Promise<{ id: string; name: string } | null>;
  /** Which of these public ids name clients, in one query. */
  existingClients(ids: readonly string[]): Promise<Set<string>>;
  /** The public id of the client whose credential (CLIENT-UUID) this is, or null. */
  findClientByCredential(credential: string): Promise<string | null>;
  /** True when the model needs no join secret, or `secret` is it. */
  verifyJoinSecret(model: Ref, secret: string | undefined): Promise<boolean>;
  /** Ids of the models a client belongs to. */
  pullModelsOfClient(client: string): Promise<number[]>;
  /** True when the client belongs to the model (one indexed read; no model's member list is loaded). */
  isModelClient(model: Ref, client: string): Promise<boolean>;
  /**
   * The model (null: none has that id) and whether the client belongs to it, as a client's
   * request each round needs them (submitting an update, posting a score). Once
   * found, both are kept by the container for MEMBERSHIP_CACHE_MS, so the usual request reads
   * neither; what was not found is read again every time (README: Guarantees).
   */
  pullModelForClient(model: Ref, client: string | null): Promise<{ model: FederatedModel | null; isMember: boolean }>;
  /** The model an aggregate belongs to, or null when there is no such aggregate (kept by the container: it never changes). */
  pullModelOfAggregate(aggregate: Ref): Promise<number | null>;
  /** The model's members (public ids), in the order they joined (those that joined together by id). */
  pullModelClients(model: Ref): Promise<string[]>;
  /** The members of each of the models, in one query. */
  pullClientsOfModels(models: readonly number[]): Promise<Map<number, string[]>>;
  /** Each model's first members (at most MEMBERS_INLINE_MAX) and how many it has: what a model's representation lists. */
  pullMemberPreviews(models: readonly number[]): Promise<Map<number, MemberPreview>>;
  /** One page of a model's members, in the order they joined. */
  pullModelMembers(model: Ref, page: Page): Promise<Paged<{ client: string; joinedOn: Date }>>;
  /** Ids of a developer's models. */
  pullModelsOfDeveloper(developer: string): Promise<number[]>;
  listFederatedModels(filter: { developer: string; allowAggregation?: boolean }, page: Page): Promise<Paged<FederatedModel>>;
  listModelUpdates(
    filter: { client?: string; models?: number[]; status?: number },
    page: Page,
  ): Promise<Paged<ModelUpdate>>;
  listModelAggregates(filter: { models: number[] }, page: Page): Promise<Paged<ModelAggregate>>;
  /**
   * Scores, newest first: those of `client`, and/or of the aggregates of `models`, and/or of one
   * `aggregate` (every given filter applies).
   */
  listClientAggregateScores(
    filter: { client?: string; models?: number[]; aggregate?: number },
    page: Page,
  ): Promise<Paged<ClientAggregateScore>>;
  pullClientAggregateScore(id: Ref): Promise<ClientAggregateScore | null>;
  setAggregateValidationScore(aggregate: Ref, score: number | null): Promise<ModelAggregate>;
  /** The artifact's record (with its weights reference), without reading its bytes. */
  pullModelArtifactRecord(id: Ref): Promise<ModelArtifact | null>;
  pullModelArtifact(id: Ref): Promise<{ artifact: ModelArtifact; values: Weights } | null>;

  // --- Sharded aggregation (issue #14) --------------------------------------------------------
  /** Completes the run's uploads, hashes the objects and records the aggregate (`beforeRecord` runs right before: the lease check). */
  completeShardedAggregate(manifest: ShardManifest, record: AggregateStrategy | null, beforeRecord: () => Promise<void>): Promise<ModelAggregate>;
  /** Aborts a failed sharded run's uploads (none, or already gone: fine). */
  abortShardedUploads(model: number, run: string): Promise<{ aborted: number }>;
}

export interface Page {
  /** 1-based. */
  readonly page: number;
  readonly pageSize: number;
  /** By creation time (then id): newest first unless `oldest`. */
  readonly order?: 'newest' | 'oldest';
}

export interface Paged<T> {
  readonly count: number;
  readonly items: T[];
}

export interface LeaseResult {
  readonly acquired: boolean;
  /** The run holding the lease (this run when acquired). */
  readonly heldBy: string;
  readonly expiresAt: Date;
  /** Updates of dead runs returned to the pool (RUNNING → FAILED) when the lease was taken. */
  /** How many updates that dead runs had left RUNNING were settled (completed, returned or given up on). */
  readonly recovered: number;
}

/** A client's keys for a secure round, and the shape of its update (required to open a model's first round). */
export interface NewSecureRoundKeys {
  readonly cPublicKey: string;
  readonly sPublicKey: string;
  readonly shape?: WeightsShape;
}

/** An encrypted share addressed to a participant. */
export interface SecureRoundShare {
  readonly to: string;
  readonly ciphertext: string;
}

/** An encrypted share as its recipient reads it. */
export interface SecureRoundInboxShare {
  readonly from: string;
  readonly ciphertext: string;
}


export interface MaskedInputUpload {
  /** Opaque: given back to complete the upload. */
  readonly upload: string;
  readonly url: string;
  readonly byteSize: number;
  readonly urlExpiresAt: Date;
}

/** A round after a step, and whether the step made it ready to sum (the caller starts the run). */
export interface SecureRoundStep {
  readonly round: SecureRound;
  readonly readyToSum: boolean;
}
