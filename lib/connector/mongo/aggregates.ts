import type { Filter } from 'mongodb';
import { z } from 'zod';
import { allocateIds } from '../../db/counters';
import type { ClientAggregateScoreDocument, ModelAggregateDocument, ModelArtifactDocument } from '../../db/collections';
import { isDuplicateKeyError } from '../../db/driver-errors';
import { ArtifactVersionSchema, ClientIdSchema, type ClientAggregateScore, type FederatedModel, type ModelAggregate, type ModelArtifact } from '../../entities';
import { AggregateStrategySchema, toStoredAggregateStrategy, type AggregateStrategy } from '../../entities/aggregate-strategy';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';
import { parseWeights, toStoredWeightsRef, weightsToJson, type Weights, type WeightsJson, type WeightsRef } from '../../weights';
import type { Page, Paged, Ref, RunScope } from '../metadata-connector';
import { OptionalRunSchema, parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { takeIds } from './ids';
import { modelsOfAggregates } from './member-cache';
import { toClientAggregateScore, toModelAggregate, toModelArtifact } from './documents';
import { recordWeightsShape, requireModel } from './models';
import { putWeights, readWeights } from '../../store/weights';
import { newestFirstPage, Sequence } from './queries';

// Aggregates, the artifacts published from them, and the clients' scores of them.

/** The model's newest aggregate (by creation time, then id), or null. */
export async function pullLatestModelAggregate(context: ConnectorContext, model: Ref): Promise<ModelAggregate | null> {
  const { id } = await requireModel(context, model);
  const { modelAggregates } = await context.collections();
  const [latest] = await modelAggregates
    .find({ federatedModel: id })
    .sort({ createdOn: -1, _id: -1 })
    .limit(1)
    .toArray();
  return latest === undefined ? null : toModelAggregate(latest);
}

export async function pullModelAggregate(context: ConnectorContext, id: Ref): Promise<ModelAggregate | null> {
  const aggregateId = parseArgument(RefSchema, id, 'aggregate');
  const { modelAggregates } = await context.collections();
  const found = await modelAggregates.findOne({ _id: aggregateId });
  return found === null ? null : toModelAggregate(found);
}

/** The aggregate, which must belong to `model`: NotFoundError, or ValidationError naming `argument`. */
export async function requireAggregateOfModel(
  context: ConnectorContext,
  aggregate: Ref,
  model: number,
  argument: string,
): Promise<ModelAggregate> {
  const id = parseArgument(RefSchema, aggregate, argument);
  const found = await pullModelAggregate(context, id);
  if (found === null) throw new NotFoundError(`Model aggregate ${id} does not exist`);
  if (found.federatedModel !== model) {
    throw new ValidationError(`${argument} ${id} belongs to federated model ${found.federatedModel}, not ${model}`, {
      details: [{ field: argument, message: 'must be an aggregate of the same federated model' }],
    });
  }
  return found;
}

/** `parent` and its `window - 1` nearest ancestors, walked in memory from one query. */
export async function ancestorWindow(context: ConnectorContext, parent: ModelAggregate, window: number): Promise<number[]> {
  const ids = [parent.id];
  if (window === 1 || parent.parent === null) return ids;
  const { modelAggregates } = await context.collections();
  const candidates = await modelAggregates
    .find(
      { federatedModel: parent.federatedModel, level: { $gte: parent.level - window + 1, $lt: parent.level } },
      { projection: { _id: 1, parent: 1 } },
    )
    .toArray();
  const parentOf = new Map(candidates.map((aggregate) => [aggregate._id, aggregate.parent]));
  let next: number | null | undefined = parent.parent;
  while (next !== null && next !== undefined && ids.length < window && parentOf.has(next)) {
    ids.push(next);
    next = parentOf.get(next);
  }
  return ids;
}

/** Stores a new aggregate from JSON results under `parentAgg` (FMA's `post_new_model_aggregate`). */
export async function postNewModelAggregate(
  context: ConnectorContext,
  model: Ref,
  parentAgg: Ref | null,
  results: unknown,
  options: RunScope = {},
): Promise<ModelAggregate> {
  const found = await requireModel(context, model);
  const parent = parentAgg === null ? null : await requireAggregateOfModel(context, parentAgg, found.id, 'parent_agg');
  return insertAggregate(context, found, parent, parseWeights(results, 'results'), options);
}

/** Stores an aggregate from weights already in memory (the aggregation Lambda's path). */
export async function postNewModelAggregateWeights(
  context: ConnectorContext,
  model: Ref,
  parentAgg: Ref | null,
  weights: Weights,
  options: RunScope & { readonly strategy?: AggregateStrategy } = {},
): Promise<ModelAggregate> {
  const found = await requireModel(context, model);
  const parent = parentAgg === null ? null : await requireAggregateOfModel(context, parentAgg, found.id, 'parent_agg');
  if (!weights.values.every(Number.isFinite)) throw new ValidationError('results must hold finite numbers only');
  return insertAggregate(context, found, parent, weights, options);
}

async function insertAggregate(
  context: ConnectorContext,
  found: FederatedModel,
  parent: ModelAggregate | null,
  weights: Weights,
  options: RunScope & { readonly strategy?: AggregateStrategy },
): Promise<ModelAggregate> {
  const run = parseArgument(OptionalRunSchema, options.run, 'run') ?? null;
  if (run !== null) {
    // A run writes one aggregate: a retried post (its answer was lost) gets the one it wrote.
    // Runs of a model hold its lease, so two posts of one run never race.
    const { modelAggregates } = await context.collections();
    const written = await modelAggregates.findOne({ federatedModel: found.id, run });
    if (written !== null) return toModelAggregate(written);
  }
  const ref = await putWeights(context.store(), 'aggregates', found.id, weights);
  return insertAggregateDocument(context, found.id, parent, ref, run, options.strategy);
}

/**
 * Records a run's aggregate whose bytes are already in the store (a sharded run's completed
 * multipart upload): the same checks of the parent and the same one-aggregate-per-run rule as
 * the single task's post.
 */
export async function insertRunAggregateForStoredWeights(
  context: ConnectorContext,
  model: Ref,
  parentAgg: Ref | null,
  ref: WeightsRef,
  run: string,
  strategy?: AggregateStrategy,
): Promise<ModelAggregate> {
  const found = await requireModel(context, model);
  const parent = parentAgg === null ? null : await requireAggregateOfModel(context, parentAgg, found.id, 'parent_agg');
  const runId = parseArgument(OptionalRunSchema, run, 'run')!;
  const { modelAggregates } = await context.collections();
  const written = await modelAggregates.findOne({ federatedModel: found.id, run: runId });
  if (written !== null) return toModelAggregate(written);
  return insertAggregateDocument(context, found.id, parent, ref, runId, strategy);
}

/**
 * The aggregate's document, for bytes already in the store. Then the model's expected shape
 * becomes the aggregate's, so that updates for the next round are checked against it.
 */
async function insertAggregateDocument(
  context: ConnectorContext,
  model: number,
  parent: ModelAggregate | null,
  ref: WeightsRef,
  run: string | null,
  strategy?: AggregateStrategy,
): Promise<ModelAggregate> {
  const { counters, modelAggregates } = await context.collections();
  const document: ModelAggregateDocument = {
    _id: await allocateIds(counters, Sequence.aggregates),
    federatedModel: model,
    parent: parent?.id ?? null,
    level: parent === null ? 0 : parent.level + 1,
    weights: toStoredWeightsRef(ref),
    validationScore: null,
    run,
    ...(strategy === undefined ? {} : { strategy: toStoredAggregateStrategy(AggregateStrategySchema.parse(strategy)) }),
    createdOn: new Date(),
  };
  await modelAggregates.insertOne(document);
  await recordWeightsShape(context, model, ref, 'aggregate');
  return toModelAggregate(document);
}

export async function pullModelAggregateWeights(context: ConnectorContext, id: Ref): Promise<Weights | null> {
  const aggregateId = parseArgument(RefSchema, id, 'aggregate');
  const found = await pullModelAggregate(context, aggregateId);
  return found === null ? null : readWeights(context.store(), found.weights);
}

/** Weights as JSON, as the caller sent them. */
export async function pullModelAggregateResults(context: ConnectorContext, id: Ref): Promise<WeightsJson[] | null> {
  const weights = await pullModelAggregateWeights(context, id);
  return weights === null ? null : weightsToJson(weights);
}

export async function setAggregateValidationScore(
  context: ConnectorContext,
  aggregate: Ref,
  score: number | null,
): Promise<ModelAggregate> {
  const id = parseArgument(RefSchema, aggregate, 'aggregate');
  const value = parseArgument(z.number().finite().nullable(), score, 'validation_score');
  const { modelAggregates } = await context.collections();
  // updateOne and a read, not findOneAndUpdate with a projection: FerretDB v1 has no projection
  // on findAndModify, and the weights should not travel for a score.
  const { matchedCount } = await modelAggregates.updateOne({ _id: id }, { $set: { validationScore: value } });
  if (matchedCount === 0) throw new NotFoundError(`Model aggregate ${id} does not exist`);
  return (await pullModelAggregate(context, id))!;
}

export async function listModelAggregates(
  context: ConnectorContext,
  filter: { models: number[] },
  page: Page,
): Promise<Paged<ModelAggregate>> {
  const { modelAggregates } = await context.collections();
  return newestFirstPage(modelAggregates, { federatedModel: { $in: filter.models } }, {}, page, toModelAggregate);
}

/** A new artifact (a published version of the model) from JSON values; it becomes the model's current one. */
export async function createModelArtifact(
  context: ConnectorContext,
  model: Ref,
  version: string,
  values: unknown,
): Promise<ModelArtifact> {
  const found = await requireModel(context, model);
  const parsedVersion = parseArtifactVersion(version);
  const weights = parseWeights(values, 'values');
  await assertNewVersion(context, found.id, parsedVersion);
  const ref = await putWeights(context.store(), 'artifacts', found.id, weights);
  return insertArtifact(context, found.id, parsedVersion, ref);
}

/**
 * Publishes an aggregate as an artifact. The artifact refers to the aggregate's bytes (objects
 * are never changed once written), so publishing copies nothing.
 */
export async function publishModelAggregate(context: ConnectorContext, aggregate: Ref, version: string): Promise<ModelArtifact> {
  const aggregateId = parseArgument(RefSchema, aggregate, 'aggregate');
  const parsedVersion = parseArtifactVersion(version);
  const found = await pullModelAggregate(context, aggregateId);
  if (found === null) throw new NotFoundError(`Model aggregate ${aggregateId} does not exist`);
  return insertArtifact(context, found.federatedModel, parsedVersion, found.weights);
}

function parseArtifactVersion(version: string): string {
  return parseArgument(ArtifactVersionSchema, version, 'version');
}

/** A version the model has is refused before anything is written (the unique index covers races). */
async function assertNewVersion(context: ConnectorContext, model: number, version: string): Promise<void> {
  const { modelArtifacts } = await context.collections();
  if ((await modelArtifacts.countDocuments({ federatedModel: model, version }, { limit: 1 })) > 0) {
    throw duplicateVersion(model, version);
  }
}

async function insertArtifact(context: ConnectorContext, model: number, version: string, ref: WeightsRef): Promise<ModelArtifact> {
  await assertNewVersion(context, model, version);
  const { counters, modelArtifacts, federatedModels } = await context.collections();
  const document: ModelArtifactDocument = {
    _id: await allocateIds(counters, Sequence.artifacts),
    federatedModel: model,
    version,
    weights: toStoredWeightsRef(ref),
    createdOn: new Date(),
  };
  try {
    await modelArtifacts.insertOne(document);
  } catch (error) {
    if (isDuplicateKeyError(error)) throw duplicateVersion(model, version, error);
    throw error;
  }
  await federatedModels.updateOne({ _id: model }, { $set: { currentArtifact: document._id, lastModified: document.createdOn } });
  await recordWeightsShape(context, model, ref, 'artifact');
  return toModelArtifact(document);
}

function duplicateVersion(model: number, version: string, cause?: unknown): ConflictError {
  return new ConflictError(`Federated model ${model} already has an artifact version ${version}`, {
    cause,
    details: [{ field: 'version', message: 'already exists for this model' }],
  });
}

/** The artifact's record (with its weights reference), without reading its bytes. */
export async function pullModelArtifactRecord(context: ConnectorContext, id: Ref): Promise<ModelArtifact | null> {
  const artifactId = parseArgument(RefSchema, id, 'artifact');
  const { modelArtifacts } = await context.collections();
  const found = await modelArtifacts.findOne({ _id: artifactId });
  return found === null ? null : toModelArtifact(found);
}

export async function pullModelArtifact(
  context: ConnectorContext,
  id: Ref,
): Promise<{ artifact: ModelArtifact; values: Weights } | null> {
  const artifactId = parseArgument(RefSchema, id, 'artifact');
  const { modelArtifacts } = await context.collections();
  const found = await modelArtifacts.findOne({ _id: artifactId });
  if (found === null) return null;
  const artifact = toModelArtifact(found);
  return { artifact, values: await readWeights(context.store(), artifact.weights) };
}

/** A client's score of an aggregate; one per (aggregate, client). */
export async function createClientAggregateScore(
  context: ConnectorContext,
  aggregate: Ref,
  client: string,
  validationResults: unknown,
): Promise<ClientAggregateScore> {
  const aggregateId = parseArgument(RefSchema, aggregate, 'aggregate');
  const clientId = parseArgument(ClientIdSchema, client, 'client');
  const json = JSON.stringify(validationResults);
  if (json === undefined) throw new ValidationError('validation_results must be a JSON value');
  const { clientAggregateScores } = await context.collections();
  // The aggregate's model as the container knows it (member-cache.ts); the id from its block (ids.ts).
  if (!(await modelsOfAggregates(context, [aggregateId])).has(aggregateId)) {
    throw new NotFoundError(`Model aggregate ${aggregateId} does not exist`);
  }
  const document: ClientAggregateScoreDocument = {
    _id: await takeIds(context, Sequence.scores),
    aggregate: aggregateId,
    client: clientId,
    validationResultsJson: json,
    createdOn: new Date(),
  };
  try {
    await clientAggregateScores.insertOne(document);
  } catch (error) {
    if (isDuplicateKeyError(error)) {
      throw new ConflictError(`Client ${clientId} has already scored aggregate ${aggregateId}`, { cause: error });
    }
    throw error;
  }
  return toClientAggregateScore(document);
}

/** Scores, newest first (by default): of a client, of the aggregates of some models, of one aggregate. */
export async function listClientAggregateScores(
  context: ConnectorContext,
  filter: { client?: string; models?: number[]; aggregate?: number },
  page: Page,
): Promise<Paged<ClientAggregateScore>> {
  const { modelAggregates, clientAggregateScores } = await context.collections();
  const query: Filter<ClientAggregateScoreDocument> = {};
  if (filter.client !== undefined) query.client = filter.client;
  // Scores name their aggregate only: the models' aggregates are looked up first (no $lookup on FerretDB v1).
  let aggregates: number[] | undefined;
  if (filter.models !== undefined) {
    const found = await modelAggregates.find({ federatedModel: { $in: filter.models } }, { projection: { _id: 1 } }).toArray();
    aggregates = found.map((aggregate) => aggregate._id);
  }
  if (filter.aggregate !== undefined) aggregates = aggregates === undefined || aggregates.includes(filter.aggregate) ? [filter.aggregate] : [];
  if (aggregates !== undefined) query.aggregate = { $in: aggregates };
  return newestFirstPage(clientAggregateScores, query, {}, page, toClientAggregateScore);
}

export async function pullClientAggregateScore(context: ConnectorContext, id: Ref): Promise<ClientAggregateScore | null> {
  const scoreId = parseArgument(RefSchema, id, 'score');
  const { clientAggregateScores } = await context.collections();
  const found = await clientAggregateScores.findOne({ _id: scoreId });
  return found === null ? null : toClientAggregateScore(found);
}

/** The aggregate a run wrote, if it wrote one (a secure round's sum that died after writing it). */
export async function pullAggregateOfRun(context: ConnectorContext, model: number, run: string): Promise<ModelAggregate | null> {
  const { modelAggregates } = await context.collections();
  const found = await modelAggregates.findOne({ federatedModel: model, run });
  return found === null ? null : toModelAggregate(found);
}
