import type { AggregateStrategy, ClientAggregateScore, FederatedModel, ModelAggregate, ModelArtifact, ModelUpdate, StatusChange } from '../entities';
import { PayloadTooLargeError } from '../errors';
import type { z } from 'zod';
import { weightsToJson, type Weights, type WeightsRef } from '../weights';
import type { MemberPreview } from '../connector';
import type {
  ClientAggregateScoreJsonSchema,
  ClientModelUpdateJsonSchema,
  FederatedModelJsonSchema,
  ModelAggregateJsonSchema,
  ModelArtifactJsonSchema,
  ModelUpdateJsonSchema,
  WeightsDownloadJsonSchema,
} from './response-schemas';

/**
 * Entities as the HTTP API and the Lambda operations return them: snake_case fields as in FMA's
 * REST API, dates as ISO-8601 strings, weights only when asked for. Each is typed by its schema in
 * `response-schemas.ts`, from which the OpenAPI description is generated.
 */
export function federatedModelJson(model: FederatedModel, members: MemberPreview): z.input<typeof FederatedModelJsonSchema> {
  const truncated = members.total > members.clients.length;
  return {
    id: model.id,
    name: model.name,
    developer: model.developer,
    /** Members by public id (never their credentials), in the order they joined: the first 1,000. */
    clients: [...members.clients],
    // Only for models with more members than the field lists: FMA's clients see the field as ever.
    ...(truncated ? { clients_count: members.total, clients_url: `/api/v1/models/${model.id}/clients/` } : {}),
    aggregator: model.aggregator,
    aggregator_params: model.aggregatorParams,
    requirement: model.requirement,
    requirement_args: model.requirementArgs,
    update_schema: model.updateSchema,
    client_agg_results_schema: model.clientAggResultsSchema,
    furthest_base_agg: model.furthestBaseAgg,
    allow_aggregation: model.allowAggregation,
    secure_aggregation: model.secureAggregation,
    current_artifact: model.currentArtifact,
    created_on: model.createdOn.toISOString(),
    last_modified: model.lastModified.toISOString(),
  };
}

function statusChangeJson(change: StatusChange) {
  return { status: change.status, at: change.at.toISOString(), run: change.run, reason: change.reason };
}

export function modelUpdateJson(update: ModelUpdate, data?: Weights): z.input<typeof ModelUpdateJsonSchema> {
  return {
    id: update.id,
    federated_model: update.federatedModel,
    client: update.client,
    status: update.status,
    base_aggregate: update.baseAggregate,
    applied_aggregate: update.appliedAggregate,
    num_examples: update.numExamples,
    claimed_by: update.claimedBy,
    claimed_at: update.claimedAt?.toISOString() ?? null,
    status_reason: update.statusReason,
    status_history: update.statusHistory.map(statusChangeJson),
    created_on: update.createdOn.toISOString(),
    ...(data === undefined ? {} : { data: weightsToJson(data) }),
  };
}

export function modelAggregateJson(aggregate: ModelAggregate, result?: Weights): z.input<typeof ModelAggregateJsonSchema> {
  return {
    id: aggregate.id,
    federated_model: aggregate.federatedModel,
    parent: aggregate.parent,
    level: aggregate.level,
    validation_score: aggregate.validationScore,
    run: aggregate.run,
    created_on: aggregate.createdOn.toISOString(),
    ...(aggregate.strategy === undefined ? {} : { strategy: aggregateStrategyJson(aggregate.strategy) }),
    ...(result === undefined ? {} : { result: weightsToJson(result) }),
  };
}

/** How an aggregate was computed (strategies beyond the plain mean, issue #11); the optimizer state's key stays internal. */
function aggregateStrategyJson(strategy: AggregateStrategy) {
  return {
    aggregator: strategy.aggregator,
    aggregator_params: strategy.params,
    num_updates: strategy.numUpdates,
    selected_updates: strategy.selectedUpdates,
    clip_norm: strategy.clipNorm,
    clipped_updates: strategy.clippedUpdates,
    noise_multiplier: strategy.noiseMultiplier,
    noise_std: strategy.noiseStd,
    staleness_exponent: strategy.stalenessExponent,
    optimizer: strategy.optimizerState?.optimizer ?? null,
  };
}

/** An update as FMA's clients see it: no status, no run bookkeeping. */
export function clientModelUpdateJson(update: ModelUpdate, data?: Weights): z.input<typeof ClientModelUpdateJsonSchema> {
  return {
    id: update.id,
    client: update.client,
    federated_model: update.federatedModel,
    ...(data === undefined ? {} : { data: weightsToJson(data) }),
    created_on: update.createdOn.toISOString(),
    base_aggregate: update.baseAggregate,
  };
}

export function clientAggregateScoreJson(score: ClientAggregateScore): z.input<typeof ClientAggregateScoreJsonSchema> {
  return {
    id: score.id,
    aggregate: score.aggregate,
    client: score.client,
    validation_results: score.validationResults,
    created_on: score.createdOn.toISOString(),
  };
}

export function modelArtifactJson(artifact: ModelArtifact, values?: Weights): z.input<typeof ModelArtifactJsonSchema> {
  return {
    id: artifact.id,
    federated_model: artifact.federatedModel,
    version: artifact.version,
    ...(values === undefined ? {} : { values: weightsToJson(values) }),
    created_on: artifact.createdOn.toISOString(),
  };
}

/** Where to download stored weights, and what they are (the binary counterpart of `result`/`values`). */
export function weightsDownloadJson(ref: WeightsRef, download: { url: string; expiresAt: Date }): z.input<typeof WeightsDownloadJsonSchema> {
  return {
    url: download.url,
    expires_at: download.expiresAt.toISOString(),
    dtype: ref.dtype,
    byte_order: 'little-endian',
    layout: ref.layout,
    shapes: ref.shapes.map((shape) => [...shape]),
    length: ref.length,
    byte_size: ref.byteSize,
    sha256: ref.sha256,
  };
}

/**
 * The most values a JSON reply carries: about 20 bytes per number, within Lambda's 6 MB response
 * limit. Larger weights are read as bytes through a presigned URL.
 */
export const MAX_JSON_WEIGHTS_VALUES = 250_000;

/** Refuses (413) to answer weights as JSON that would not fit a Lambda response, naming the route that can. */
export function assertJsonSizedWeights(ref: WeightsRef, binaryRoute: string): void {
  if (ref.length > MAX_JSON_WEIGHTS_VALUES) {
    throw new PayloadTooLargeError(
      `These weights hold ${ref.length} values, too many for a JSON reply (at most ${MAX_JSON_WEIGHTS_VALUES}); ` +
        `download them as bytes from GET ${binaryRoute}`,
    );
  }
}
