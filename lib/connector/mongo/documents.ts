import type {
  ClientAggregateScoreDocument,
  FederatedModelDocument,
  ModelAggregateDocument,
  ModelArtifactDocument,
  ModelUpdateDocument,
} from '../../db/collections';
import { fromStoredShape, fromStoredWeightsRef } from '../../weights';
import { fromStoredAggregateStrategy } from '../../entities/aggregate-strategy';
import type { ClientAggregateScore, FederatedModel, ModelAggregate, ModelArtifact, ModelUpdate } from '../../entities';

// Documents as stored → entities as the connector returns them. User JSON is stored as text
// (see lib/db/collections.ts) and parsed back here.

export function toFederatedModel(document: FederatedModelDocument): FederatedModel {
  return {
    id: document._id,
    name: document.name,
    developer: document.developer,
    aggregator: document.aggregator,
    aggregatorParams: document.aggregatorParamsJson == null ? null : (JSON.parse(document.aggregatorParamsJson) as Record<string, unknown>),
    requirement: document.requirement,
    requirementArgs: JSON.parse(document.requirementArgsJson) as unknown[],
    updateSchema: document.updateSchemaJson === null ? null : JSON.parse(document.updateSchemaJson),
    clientAggResultsSchema:
      document.clientAggResultsSchemaJson === null ? null : JSON.parse(document.clientAggResultsSchemaJson),
    furthestBaseAgg: document.furthestBaseAgg,
    allowAggregation: document.allowAggregation,
    secureAggregation: document.secureAggregation ?? null,
    currentArtifact: document.currentArtifact,
    weightsShape: document.weightsShape == null ? null : fromStoredShape(document.weightsShape),
    createdOn: document.createdOn,
    lastModified: document.lastModified,
  };
}

export function toModelUpdate(document: ModelUpdateDocument): ModelUpdate {
  return {
    id: document._id,
    federatedModel: document.federatedModel,
    client: document.client,
    status: document.status,
    baseAggregate: document.baseAggregate,
    appliedAggregate: document.appliedAggregate,
    numExamples: document.numExamples,
    claimedBy: document.claimedBy,
    claimedAt: document.claimedAt,
    statusReason: document.statusReason,
    statusHistory: document.statusHistory,
    weights: fromStoredWeightsRef(document.weights),
    createdOn: document.createdOn,
  };
}

export function toModelAggregate(document: ModelAggregateDocument): ModelAggregate {
  return {
    id: document._id,
    federatedModel: document.federatedModel,
    parent: document.parent,
    level: document.level,
    validationScore: document.validationScore,
    run: document.run,
    weights: fromStoredWeightsRef(document.weights),
    ...(document.strategy == null ? {} : { strategy: fromStoredAggregateStrategy(document.strategy) }),
    createdOn: document.createdOn,
  };
}

export function toModelArtifact(document: ModelArtifactDocument): ModelArtifact {
  return {
    id: document._id,
    federatedModel: document.federatedModel,
    version: document.version,
    weights: fromStoredWeightsRef(document.weights),
    createdOn: document.createdOn,
  };
}

export function toClientAggregateScore(document: ClientAggregateScoreDocument): ClientAggregateScore {
  return {
    id: document._id,
    aggregate: document.aggregate,
    client: document.client,
    validationResults: JSON.parse(document.validationResultsJson),
    createdOn: document.createdOn,
  };
}
