import type { Db, IndexDescription } from 'mongodb';
import type { SecureAggregationOptions, SecureRoundParticipant, SecureRoundStatus } from '../entities/secure-aggregation';
import type { AggregationRunStatus, AggregationRunTrigger, RunError, RunStateEntry, StatusChange, StoredAggregateStrategy, UpdateStatus } from '../entities';
import type { StoredShape, StoredWeightsRef } from '../weights';

/** Collection names: one per entity, plus id counters. */
export const CollectionName = {
  counters: 'counters',
  clients: 'clients',
  federatedModels: 'federated_models',
  modelClients: 'model_clients',
  modelUpdates: 'model_updates',
  modelUpdateUploads: 'model_update_uploads',
  modelAggregates: 'model_aggregates',
  modelArtifacts: 'model_artifacts',
  clientAggregateScores: 'client_aggregate_scores',
  aggregationLeases: 'aggregation_leases',
  developers: 'developers',
  localExecutions: 'local_executions',
  idempotencyKeys: 'idempotency_keys',
  rateLimits: 'rate_limits',
  aggregationRuns: 'aggregation_runs',
  secureRounds: 'secure_rounds',
  secureRoundMessages: 'secure_round_messages',
} as const;

export type CollectionName = (typeof CollectionName)[keyof typeof CollectionName];

// Documents as stored. User-supplied JSON (schemas, requirement arguments, validation results) is
// kept as a JSON string: it may hold keys such as `$schema` or `a.b` that MongoDB-compatible
// servers refuse or mangle as field names.

export interface CounterDocument {
  _id: string;
  seq: number;
}

/** A client: `_id` is its public id; its credential (`CLIENT-UUID`) is kept only as its SHA-256. */
export interface ClientDocument {
  _id: string;
  credentialHash: string;
  createdOn: Date;
}

/** A model developer; the API token is kept only as its SHA-256. */
export interface DeveloperDocument {
  _id: string;
  name: string;
  tokenHash: string;
  createdOn: Date;
}

export interface FederatedModelDocument {
  _id: number;
  name: string;
  developer: string | null;
  aggregator: string;
  /** The strategy's parameters as JSON text (issue #11); absent or null: none. */
  aggregatorParamsJson?: string | null;
  requirement: string | null;
  requirementArgsJson: string;
  updateSchemaJson: string | null;
  clientAggResultsSchemaJson: string | null;
  furthestBaseAgg: number | null;
  allowAggregation: boolean;
  currentArtifact: number | null;
  /**
   * The shape every update must have: the latest aggregate's, else the current artifact's, else
   * the first accepted update's (set atomically by whichever comes first). Null until then.
   */
  weightsShape?: StoredShape | null;
  /** Where `weightsShape` came from; an artifact does not override an aggregate's shape. */
  weightsShapeSource?: 'update' | 'aggregate' | 'artifact' | null;
  /** The secret a new client must show to join, as `scrypt$<salt>$<key>` (older models: its SHA-256), or null (anyone may join). */
  joinSecretHash?: string | null;
  /** Issue #28: the secure aggregation settings; absent or null: updates are sent in the clear. */
  secureAggregation?: SecureAggregationOptions | null;
  /**
   * Changes (a new random value) whenever the model's members change through the connector, so
   * that containers know the members they remember may be gone (lib/connector/mongo/member-cache.ts).
   */
  membersStamp?: string | null;
  createdOn: Date;
  lastModified: Date;
}

/**
 * A client's membership of a model: one document per (model, client), so that open registration
 * grows a collection, not the model document, and checking one membership reads one document.
 * `_id` is `<model>/<client>`, which makes a second insert of the same membership a duplicate key.
 */
export interface ModelClientDocument {
  _id: string;
  federatedModel: number;
  client: string;
  joinedOn: Date;
}

export interface ModelUpdateDocument {
  _id: number;
  federatedModel: number;
  client: string;
  /** Where the bytes are (never the bytes themselves). */
  weights: StoredWeightsRef;
  numExamples: number | null;
  baseAggregate: number | null;
  appliedAggregate: number | null;
  status: UpdateStatus;
  claimedBy: string | null;
  claimedAt: Date | null;
  statusReason: string | null;
  statusHistory: StatusChange[];
  /** Runs that claimed it and failed; at AGGREGATION_MAX_ATTEMPTS it becomes INVALID. Absent: none. */
  failedAttempts?: number;
  /** The client's Idempotency-Key of the request that created it, if it sent one. */
  idempotencyKey?: string;
  /** The binary upload it came from, if any. */
  upload?: string | null;
  /** Id of the last bookkeeping transition that moved this update (see the connector). */
  transition?: string;
  createdOn: Date;
}

export interface ModelAggregateDocument {
  _id: number;
  federatedModel: number;
  parent: number | null;
  level: number;
  weights: StoredWeightsRef;
  validationScore: number | null;
  run: string | null;
  /** How it was computed, for strategies beyond the plain mean (issue #11); absent otherwise. */
  strategy?: StoredAggregateStrategy;
  createdOn: Date;
}

export interface ModelArtifactDocument {
  _id: number;
  federatedModel: number;
  version: string;
  weights: StoredWeightsRef;
  createdOn: Date;
}

export interface ClientAggregateScoreDocument {
  _id: number;
  aggregate: number;
  client: string;
  validationResultsJson: string;
  createdOn: Date;
}

/**
 * A binary update on its way in: the client PUTs the bytes to `key` with a presigned URL, then
 * completes the upload. Only a completed upload, whose bytes were checked, becomes an update, so
 * no run can see or claim it before; an abandoned one expires (and so do its bytes, by the
 * bucket's lifecycle rule on `uploads/`).
 */
export interface ModelUpdateUploadDocument {
  _id: string;
  federatedModel: number;
  client: string;
  baseAggregate: number | null;
  numExamples: number | null;
  /** What the client declared; completion checks the bytes against it. */
  declared: StoredWeightsRef;
  /** open → completing (one caller checks the bytes) → complete, or refused with a reason. */
  status: 'open' | 'completing' | 'complete' | 'refused';
  completingSince: Date | null;
  /** The update it became. */
  update: number | null;
  reason: string | null;
  createdOn: Date;
  expiresAt: Date;
}

/** Who may run aggregation for a model, until when (one document per model). */
export interface AggregationLeaseDocument {
  _id: number;
  run: string;
  acquiredAt: Date;
  expiresAt: Date;
}

/**
 * A run started by the local executor (`npm start`), which has no Step Functions service to ask:
 * `_id` is the execution name, unique as Step Functions makes it, so a duplicate trigger starts
 * nothing. Unused on AWS, where DescribeExecution answers.
 */
export interface LocalExecutionDocument {
  _id: string;
  model: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  finalState: string | null;
  error: string | null;
  startedAt: Date;
  stoppedAt: Date | null;
  /** What AWS would bill the run for: states entered and Lambda invocations. */
  statesEntered?: number;
  lambdaInvocations?: number;
}

/** A client's `Idempotency-Key` and the update its first request created (see the connector). */
/**
 * How long an Idempotency-Key is remembered: a retry within a day of the first request gets its
 * answer; after that the key may be used again. FerretDB v1 has no TTL indexes, so there the daily
 * sweep deletes expired keys, and a key may live up to a day longer.
 */
export const IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 60 * 60;

export interface IdempotencyKeyDocument {
  /** `<client>/<key>` */
  _id: string;
  /** SHA-256 of the request, so a key reused for another request is refused. */
  requestHash: string;
  update: number | null;
  /** Until when the first request holds the key; a retry after that may take it over. */
  lockedUntil: Date;
  createdOn: Date;
}

/**
 * One window of a per-source rate limit (lib/connector/mongo/rate-limits.ts): how many requests of
 * one kind a source has made in it.
 */
export interface RateLimitWindowDocument {
  /** `<action>/<source>/<window start, ms since the epoch>` */
  _id: string;
  count: number;
  /** When the window ends: expired by the TTL index, else by the daily sweep. */
  expiresAt: Date;
}

/**
 * A secure round (issue #28; lib/connector/mongo/secure-rounds.ts): `_id` is `<model>:<number>`.
 * Its status moves forward only, each step one update guarded by the status it leaves.
 */
export interface SecureRoundDocument {
  _id: string;
  federatedModel: number;
  number: number;
  status: SecureRoundStatus;
  stageDeadline: Date;
  options: SecureAggregationOptions;
  weighted: boolean;
  shape: StoredShape;
  participants: SecureRoundParticipant[];
  sharers: string[];
  maskers: string[];
  revealers: string[];
  /** How many clients answered the current stage (each accepted message adds one, guarded by the stage). */
  answered?: number;
  /** The run that sums it (set when its sum starts), and the aggregate it wrote. */
  run: string | null;
  aggregate: number | null;
  failureReason: string | null;
  createdOn: Date;
  endedOn: Date | null;
}

/** What a client sent in one stage of a secure round: `_id` `<round>|<stage>|<client>`, so one each. */
export interface SecureRoundMessageDocument {
  _id: string;
  round: string;
  /** `inbox` documents are the service's: the shares addressed to `client`, routed when sharing closes. */
  stage: 'keys' | 'shares' | 'masked_input' | 'reveal' | 'inbox';
  client: string;
  createdOn: Date;
  keys?: { cPublicKey: string; sPublicKey: string };
  /**
   * `shares`: one ciphertext to each other participant; `inbox`: one from each sharer; as JSON text
   * of `[{peer, ciphertext}]`: one string field, where hundreds of subdocuments would make every
   * read, write and delete of them slow on FerretDB (bench/secure-aggregation.ts).
   */
  sharesJson?: string;
  input?: { key: string; byteSize: number; sha256: string };
  /** `[{of, kind, share}]` as JSON text, for the same reason. */
  revealsJson?: string;
}

/**
 * How long a run's record is kept: a month of a model's runs is enough to see what happened to
 * its recent rounds. Expired by the TTL index on MongoDB, else by the daily sweep.
 */
export const AGGREGATION_RUN_TTL_SECONDS = 30 * 24 * 60 * 60;

/** The most Task states one run's record keeps (a run passes through at most 11, each tried up to 4 times). */
export const AGGREGATION_RUN_MAX_STATES = 64;

/**
 * One aggregation run as its tasks record it (lib/connector/mongo/run-records.ts): `_id` is the
 * execution name. Each task adds its state entry and what it learnt in one upsert, so the record
 * is the same on AWS and locally.
 */
export interface AggregationRunDocument {
  _id: string;
  model: number;
  trigger: AggregationRunTrigger;
  status: AggregationRunStatus;
  finalState: string | null;
  lastState: string | null;
  startedAt: Date;
  stoppedAt: Date | null;
  claimed: number | null;
  aggregate: number | null;
  taskError: RunError | null;
  caught: { error: string; cause: string | null } | null;
  states: RunStateEntry[];
  /** How many entries `states` holds (the bound is checked on it: FerretDB v1 ignores `$slice`). */
  stateCount: number;
  statesDropped: number;
}

/** Typed handles on every collection of one database. */
export function collections(db: Db) {
  return {
    counters: db.collection<CounterDocument>(CollectionName.counters),
    clients: db.collection<ClientDocument>(CollectionName.clients),
    federatedModels: db.collection<FederatedModelDocument>(CollectionName.federatedModels),
    modelClients: db.collection<ModelClientDocument>(CollectionName.modelClients),
    modelUpdates: db.collection<ModelUpdateDocument>(CollectionName.modelUpdates),
    modelUpdateUploads: db.collection<ModelUpdateUploadDocument>(CollectionName.modelUpdateUploads),
    modelAggregates: db.collection<ModelAggregateDocument>(CollectionName.modelAggregates),
    modelArtifacts: db.collection<ModelArtifactDocument>(CollectionName.modelArtifacts),
    clientAggregateScores: db.collection<ClientAggregateScoreDocument>(CollectionName.clientAggregateScores),
    aggregationLeases: db.collection<AggregationLeaseDocument>(CollectionName.aggregationLeases),
    developers: db.collection<DeveloperDocument>(CollectionName.developers),
    localExecutions: db.collection<LocalExecutionDocument>(CollectionName.localExecutions),
    idempotencyKeys: db.collection<IdempotencyKeyDocument>(CollectionName.idempotencyKeys),
    rateLimits: db.collection<RateLimitWindowDocument>(CollectionName.rateLimits),
    aggregationRuns: db.collection<AggregationRunDocument>(CollectionName.aggregationRuns),
    secureRounds: db.collection<SecureRoundDocument>(CollectionName.secureRounds),
    secureRoundMessages: db.collection<SecureRoundMessageDocument>(CollectionName.secureRoundMessages),
  } satisfies Record<keyof typeof CollectionName, unknown>;
}

export type Collections = ReturnType<typeof collections>;

/**
 * Every index the queries need, named so that creating them again is a no-op. Each entry says
 * which query it serves.
 */
export const INDEXES: Readonly<Record<CollectionName, readonly IndexDescription[]>> = {
  counters: [],
  // a client's credential (CLIENT-UUID), by its hash
  // (not unique: clients stored before credentials were hashed lack the field; a UUID's 122 random
  // bits make a collision of two hashes impossible in practice)
  clients: [{ key: { credentialHash: 1 }, name: 'credentialHash' }],
  federated_models: [
    // a developer's models, newest first (API listing)
    { key: { developer: 1, createdOn: -1, _id: -1 }, name: 'developer_createdOn' },
    // the same, filtered by ?allow_aggregation=
    { key: { developer: 1, allowAggregation: 1, createdOn: -1, _id: -1 }, name: 'developer_allowAggregation_createdOn' },
    // the scheduled trigger: models that allow aggregation
    { key: { allowAggregation: 1 }, name: 'allowAggregation' },
  ],
  model_clients: [
    // one membership per (model, client), and a model's members (the requirement, the model's JSON)
    { key: { federatedModel: 1, client: 1 }, name: 'federatedModel_client', unique: true },
    // the models a client belongs to (client-scoped API reads)
    { key: { client: 1, federatedModel: 1 }, name: 'client_federatedModel' },
    // a model's members in the order they joined (its representation, GET models/{id}/clients/)
    { key: { federatedModel: 1, joinedOn: 1, _id: 1 }, name: 'federatedModel_joinedOn' },
  ],
  model_updates: [
    // pending / ready / registered updates of a model: equality on model and status, then client
    { key: { federatedModel: 1, status: 1, client: 1 }, name: 'federatedModel_status_client' },
    // the updates one run claimed
    { key: { claimedBy: 1, status: 1 }, name: 'claimedBy_status' },
    // a client's own updates, newest first (API listing)
    { key: { client: 1, createdOn: -1, _id: -1 }, name: 'client_createdOn' },
    // the updates of a developer's models, newest first (API listing)
    { key: { federatedModel: 1, createdOn: -1, _id: -1 }, name: 'federatedModel_createdOn' },
    // API listings filtered by ?status= (a developer's models; a client's own), newest or oldest first
    { key: { federatedModel: 1, status: 1, createdOn: -1, _id: -1 }, name: 'federatedModel_status_createdOn' },
    { key: { client: 1, status: 1, createdOn: -1, _id: -1 }, name: 'client_status_createdOn' },
    // a client's own updates filtered by ?federated_model=
    { key: { client: 1, federatedModel: 1, createdOn: -1, _id: -1 }, name: 'client_federatedModel_createdOn' },
    // the update a binary upload became (a retried completion finds it)
    { key: { upload: 1 }, name: 'upload' },
  ],
  model_update_uploads: [
    // a client's open uploads on a model (the cap on open uploads), and a removed member's (closed)
    { key: { federatedModel: 1, client: 1, status: 1 }, name: 'federatedModel_client_status' },
  ],
  model_aggregates: [
    // the latest aggregate of a model, and listings newest first
    { key: { federatedModel: 1, createdOn: -1, _id: -1 }, name: 'federatedModel_createdOn' },
    // the ancestors window: a model's aggregates by level
    { key: { federatedModel: 1, level: -1 }, name: 'federatedModel_level' },
  ],
  model_artifacts: [
    // one artifact per version of a model
    { key: { federatedModel: 1, version: 1 }, name: 'federatedModel_version', unique: true },
  ],
  client_aggregate_scores: [
    // one score per aggregate and client
    { key: { aggregate: 1, client: 1 }, name: 'aggregate_client', unique: true },
    // API listings: a client's own scores, and scores of some aggregates, newest or oldest first
    { key: { client: 1, createdOn: -1, _id: -1 }, name: 'client_createdOn' },
    { key: { aggregate: 1, createdOn: -1, _id: -1 }, name: 'aggregate_createdOn' },
  ],
  // looked up by _id (the model) only
  aggregation_leases: [],
  // a developer's API token, by its hash
  developers: [{ key: { tokenHash: 1 }, name: 'tokenHash', unique: true }],
  // looked up by name (_id) only
  local_executions: [],
  // looked up by `<client>/<key>` (_id); expired after IDEMPOTENCY_KEY_TTL_SECONDS by this TTL index
  // where the server has TTL indexes (MongoDB), else by the daily sweep, which reads this index
  idempotency_keys: [{ key: { createdOn: 1 }, name: 'createdOn', expireAfterSeconds: IDEMPOTENCY_KEY_TTL_SECONDS }],
  // counted by _id; a window is deleted once it has ended, by this TTL index or the daily sweep
  rate_limits: [{ key: { expiresAt: 1 }, name: 'expiresAt', expireAfterSeconds: 0 }],
  aggregation_runs: [
    // a model's runs, newest first (GET models/{id}/runs/), and those of one status (?status=)
    { key: { model: 1, startedAt: -1, _id: -1 }, name: 'model_startedAt' },
    { key: { model: 1, status: 1, startedAt: -1, _id: -1 }, name: 'model_status_startedAt' },
    // expired after AGGREGATION_RUN_TTL_SECONDS by this TTL index, or by the daily sweep
    { key: { startedAt: 1 }, name: 'startedAt', expireAfterSeconds: AGGREGATION_RUN_TTL_SECONDS },
  ],
  secure_rounds: [
    // a model's rounds, newest first: its open round, or one by number
    { key: { federatedModel: 1, number: -1 }, name: 'federatedModel_number', unique: true },
    // the scheduled trigger: rounds whose stage is due to close, and rounds ready to sum
    { key: { status: 1, stageDeadline: 1 }, name: 'status_stageDeadline' },
  ],
  // a round's messages of one stage (closing it reads them; _id makes one per client and stage)
  secure_round_messages: [{ key: { round: 1, stage: 1 }, name: 'round_stage' }],
};
