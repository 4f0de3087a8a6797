import { z } from 'zod';
import {
  AGGREGATION_RUN_SHOWN_STATUSES,
  AGGREGATION_RUN_TRIGGERS,
  ClientIdSchema,
  EntityIdSchema,
  SecureAggregationOptionsSchema,
  RunIdSchema,
  UpdateStatusSchema,
} from '../entities';
import { WEIGHTS_DTYPES } from '../weights/stored-weights';

/**
 * What the HTTP API answers, as zod schemas: the OpenAPI description's response bodies are
 * generated from these (scripts/generate-openapi.ts), and the functions of `representation.ts`
 * are typed by them, so that an answer cannot change shape without the contract changing too.
 * Each schema carries an `id`: it becomes a named component of the description.
 */

const Timestamp = z.iso.datetime({ offset: true }).meta({ description: 'ISO 8601 date and time' });
const ClientPublicId = ClientIdSchema.meta({ description: "A client's public id (never its CLIENT-UUID credential)" });
const JsonSchemaDocument = z.record(z.string(), z.unknown()).meta({ description: 'A JSON Schema document' });

/**
 * Weights as JSON: a flat list of numbers, or nested lists (one per layer or row). Not described
 * recursively: client generators such as openapi-python-client cannot build a type that contains
 * itself, so what lies below the first level is described as a list.
 */
export const WeightsJsonSchema = z
  .array(z.union([z.number(), z.array(z.unknown())]))
  .meta({ id: 'Weights', description: 'Numbers, flat or nested as lists (layers, rows)' });

export const FederatedModelJsonSchema = z
  .object({
    id: EntityIdSchema,
    name: z.string(),
    developer: z.string().nullable().meta({ description: 'The owner; null for models made through the operator routes' }),
    clients: z.array(ClientPublicId).meta({ description: 'Members by public id, in the order they joined: the first 1,000 (see clients_count)' }),
    clients_count: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Only for a model with more than 1,000 members: how many it has; clients_url lists them page by page' }),
    clients_url: z.string().optional().meta({ description: 'Only with clients_count: GET it for the members, page by page' }),
    aggregator: z.string(),
    aggregator_params: z.record(z.string(), z.unknown()).nullable(),
    requirement: z.string().nullable(),
    requirement_args: z.unknown(),
    update_schema: JsonSchemaDocument.nullable(),
    client_agg_results_schema: JsonSchemaDocument.nullable(),
    furthest_base_agg: z.number().int().nullable(),
    allow_aggregation: z.boolean(),
    secure_aggregation: SecureAggregationOptionsSchema.nullable().meta({ description: 'Issue #28: secure aggregation settings; null: updates are sent in the clear' }),
    current_artifact: EntityIdSchema.nullable(),
    created_on: Timestamp,
    last_modified: Timestamp,
  })
  .meta({ id: 'FederatedModel' });

const StatusChangeJsonSchema = z.object({
  status: UpdateStatusSchema,
  at: Timestamp,
  run: RunIdSchema.nullable(),
  reason: z.string().nullable(),
});

/** An update as its model's developer sees it: with its status and run bookkeeping. */
export const ModelUpdateJsonSchema = z
  .object({
    id: EntityIdSchema,
    federated_model: EntityIdSchema,
    client: ClientPublicId,
    status: UpdateStatusSchema.meta({ description: '0 PENDING, 1 RUNNING, 2 COMPLETE, 3 FAILED, 4 INVALID' }),
    base_aggregate: EntityIdSchema.nullable(),
    applied_aggregate: EntityIdSchema.nullable(),
    num_examples: z.number().int().nonnegative().nullable(),
    claimed_by: RunIdSchema.nullable(),
    claimed_at: Timestamp.nullable(),
    status_reason: z.string().nullable(),
    status_history: z.array(StatusChangeJsonSchema),
    created_on: Timestamp,
    data: WeightsJsonSchema.optional(),
  })
  .meta({ id: 'ModelUpdate' });

/** An update as FMA's clients see it: no status, no run bookkeeping. */
export const ClientModelUpdateJsonSchema = z
  .object({
    id: EntityIdSchema,
    client: ClientPublicId,
    federated_model: EntityIdSchema,
    data: z.unknown().optional().meta({ description: 'The weights as sent (JSON updates)' }),
    created_on: Timestamp,
    base_aggregate: EntityIdSchema.nullable(),
  })
  .meta({ id: 'ClientModelUpdate' });

const AggregateStrategyJsonSchema = z.object({
  aggregator: z.string(),
  aggregator_params: z.record(z.string(), z.unknown()),
  num_updates: z.number().int(),
  selected_updates: z.array(EntityIdSchema).nullable(),
  clip_norm: z.number().nullable(),
  clipped_updates: z.number().int().nullable(),
  noise_multiplier: z.number().nullable(),
  noise_std: z.number().nullable(),
  staleness_exponent: z.number().nullable(),
  optimizer: z.string().nullable(),
});

export const ModelAggregateJsonSchema = z
  .object({
    id: EntityIdSchema,
    federated_model: EntityIdSchema,
    parent: EntityIdSchema.nullable(),
    level: z.number().int().nonnegative(),
    validation_score: z.number().nullable(),
    run: RunIdSchema.nullable(),
    created_on: Timestamp,
    strategy: AggregateStrategyJsonSchema.optional(),
    result: WeightsJsonSchema.optional(),
  })
  .meta({ id: 'ModelAggregate' });

export const ClientAggregateScoreJsonSchema = z
  .object({
    id: EntityIdSchema,
    aggregate: EntityIdSchema,
    client: ClientPublicId,
    validation_results: z.unknown(),
    created_on: Timestamp,
  })
  .meta({ id: 'ClientAggregateScore' });

export const ModelArtifactJsonSchema = z
  .object({
    id: EntityIdSchema,
    federated_model: EntityIdSchema,
    version: z.string(),
    values: WeightsJsonSchema.optional(),
    created_on: Timestamp,
  })
  .meta({ id: 'ModelArtifact' });

/** FMA's answer when there is nothing yet (no aggregate, no artifact): an empty object. */
export const NothingYetJsonSchema = z.strictObject({}).meta({ id: 'NothingYet', description: 'Nothing yet: an empty object, as FMA answers' });

/** The newest weights of a model, as `get_latest_model` answers (FMA's shape). */
export const LatestModelJsonSchema = z
  .object({
    values: WeightsJsonSchema,
    aggregate: EntityIdSchema.nullable().meta({ description: 'The aggregate they are; null when they are the current artifact' }),
  })
  .meta({ id: 'LatestModel' });

export const WeightsDownloadJsonSchema = z
  .object({
    url: z.string().meta({ description: 'A presigned GET URL of the bytes' }),
    expires_at: Timestamp,
    dtype: z.enum(WEIGHTS_DTYPES),
    byte_order: z.literal('little-endian'),
    layout: z.enum(['vector', 'layers']),
    shapes: z.array(z.array(z.number().int().nonnegative())),
    length: z.number().int().nonnegative(),
    byte_size: z.number().int().nonnegative(),
    sha256: z.string(),
    aggregate: EntityIdSchema.nullable().optional(),
    update: EntityIdSchema.optional(),
  })
  .meta({ id: 'WeightsDownload' });

/** Where to download a model's newest weights: its latest aggregate's, else its current artifact's. */
export const LatestWeightsDownloadJsonSchema = WeightsDownloadJsonSchema.extend({
  aggregate: EntityIdSchema.nullable(),
  artifact: EntityIdSchema.nullable(),
}).meta({ id: 'LatestWeightsDownload' });

export const UploadDeclaredJsonSchema = z
  .object({
    id: z.string(),
    federated_model: EntityIdSchema,
    method: z.literal('PUT'),
    url: z.string().meta({ description: 'A presigned URL to PUT the bytes to' }),
    headers: z.record(z.string(), z.string()),
    url_expires_at: Timestamp,
    expires_at: Timestamp,
    byte_size: z.number().int().positive(),
    complete: z.string().meta({ description: 'The path to POST once the bytes are uploaded' }),
  })
  .meta({ id: 'UploadDeclared' });

/** A large upload whose bytes the verification function is still checking (202). */
export const UploadVerifyingJsonSchema = z
  .object({
    id: z.string(),
    status: z.literal('verifying'),
    byte_size: z.number().int().positive(),
    complete: z.string().meta({ description: 'The path to POST again (after Retry-After) for the outcome' }),
  })
  .meta({ id: 'UploadVerifying' });

export const RegisteredClientJsonSchema = z
  .object({ uuid: ClientIdSchema.meta({ description: 'The credential to send as CLIENT-UUID; shown only to this client' }) })
  .meta({ id: 'RegisteredClient' });

/** Django REST Framework's error bodies: `{"detail": ...}`, or messages per field for a 400. */
/** One member of a model (`GET /api/v1/models/{id}/clients/`). */
export const ModelMemberJsonSchema = z
  .object({ client: ClientPublicId, joined_on: Timestamp })
  .meta({ id: 'ModelMember' });

const Milliseconds = z.number().int().nonnegative();

/** Why a run failed, or what a task of a run still going threw last. */
const AggregationRunErrorJsonSchema = z
  .object({
    state: z.string().nullable().meta({ description: 'The Task state that threw it; null when only Step Functions saw it (a crash, a timeout)' }),
    error: z.string().meta({ description: "The error's name, as the state machine matches it (RequirementError, ConflictError, States.Timeout, ...)" }),
    cause: z.string().nullable().meta({ description: 'What went wrong, in words (null where only the function log has it)' }),
  })
  .meta({ id: 'AggregationRunError' });

/** One aggregation run of a model, as its tasks recorded it (`GET /api/v1/models/{id}/runs/`). */
export const AggregationRunJsonSchema = z
  .object({
    name: RunIdSchema.meta({ description: 'The execution name: model-<id>-<trigger>-<minute or uuid>' }),
    model: EntityIdSchema,
    trigger: z.enum(AGGREGATION_RUN_TRIGGERS).meta({ description: 'schedule (every minute), update (an accepted update made the round ready), manual (POST /aggregation/run), other' }),
    status: z.enum(AGGREGATION_RUN_SHOWN_STATUSES).meta({
      description: 'TIMED_OUT: still RUNNING in the record past the state machine\'s timeout (3,600 s), so its last task died without reporting',
    }),
    final_state: z.string().nullable().meta({ description: 'Aggregated, NothingToAggregate, AggregationFailed, AnotherRunHoldsTheLease or ModelNotFound; null until the run ends' }),
    last_state: z.string().nullable().meta({ description: 'The last Task state that reported' }),
    started_at: Timestamp,
    stopped_at: Timestamp.nullable(),
    duration_ms: Milliseconds.meta({ description: 'From start to stop; while running (or timed out), until now' }),
    claimed: z.number().int().nonnegative().nullable().meta({ description: 'Updates the run claimed; null when it stopped before claiming' }),
    aggregate: EntityIdSchema.nullable().meta({ description: 'The aggregate the run wrote' }),
    error: AggregationRunErrorJsonSchema.nullable().meta({ description: 'Why it failed; for a run still going, what its tasks threw last; null for a run that succeeded' }),
  })
  .meta({ id: 'AggregationRun' });

/** One Task state of a run: one invocation of its function (a retried state has one per attempt). */
export const AggregationRunStateJsonSchema = z
  .object({
    state: z.string(),
    entered_at: Timestamp.meta({ description: "When the state's function began" }),
    exited_at: Timestamp.meta({ description: 'When it ended' }),
    duration_ms: Milliseconds,
    error: z.object({ error: z.string(), cause: z.string().nullable() }).nullable().meta({ description: 'What it threw, if it failed' }),
  })
  .meta({ id: 'AggregationRunState' });

/** One run with its states (`GET /api/v1/models/{id}/runs/{name}/`). */
export const AggregationRunDetailJsonSchema = AggregationRunJsonSchema.extend({
  states: z.array(AggregationRunStateJsonSchema).meta({ description: 'The Task states in the order they ended (Choice, Succeed and Fail states take no time and are not listed; the shard Maps are the time between their neighbours)' }),
  states_dropped: z.number().int().nonnegative().meta({ description: 'Task states past the 64 a record keeps' }),
}).meta({ id: 'AggregationRunDetail' });

export const DetailErrorSchema = z.object({ detail: z.string() }).meta({ id: 'DetailError' });
export const FieldErrorsSchema = z
  .record(z.string(), z.array(z.string()))
  .meta({ id: 'FieldErrors', description: 'Messages per field, as DRF answers a 400 (`non_field_errors` for the body as a whole)' });
export const BadRequestErrorSchema = z.union([FieldErrorsSchema, DetailErrorSchema]).meta({ id: 'BadRequestError' });

/** The operator routes' error body (`{error, message, details}`). */
export const OperatorErrorSchema = z
  .object({
    error: z.string(),
    message: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'OperatorError' });
