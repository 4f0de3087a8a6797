import { randomUUID } from 'node:crypto';
import type { Filter } from 'mongodb';
import { z } from 'zod';
import { validateRequirement } from '../../algorithms';
import { parseStrategy } from '../../algorithms/strategies';
import { allocateIds } from '../../db/counters';
import type { FederatedModelDocument } from '../../db/collections';
import { assertSecureAggregationStrategy } from '../../secure-aggregation/strategy';
import { CLAIMABLE_STATUSES, SecureAggregationOptionsSchema, type SecureAggregationOptions, ClientIdSchema, EntityIdSchema, ModelNameSchema, type FederatedModel } from '../../entities';
import { NotFoundError, ValidationError } from '../../errors';
import { describeShape, fromStoredShape, sameShape, toStoredShape, type WeightsShape } from '../../weights';
import type { FederatedModelChanges, NewFederatedModel, Page, Paged, Ref, Requirements } from '../metadata-connector';
import { parseArgument, RefSchema } from './arguments';
import type { ConnectorContext } from './context';
import { hashJoinSecret } from './credentials';
import { toFederatedModel } from './documents';
import { forgetModel, rememberWeightsShape } from './member-cache';
import { addModelClients, replaceModelClients } from './model-clients';
import { newestFirstPage, Sequence } from './queries';

// Federated models (their members are in model-clients.ts).

const NewFederatedModelSchema = z.object({
  name: ModelNameSchema,
  developer: z.string().min(1).nullable().default(null),
  clients: z.array(ClientIdSchema).default([]),
  aggregator: z.string().min(1, 'must name an aggregator'),
  /** The strategy's parameters (issue #11; see lib/algorithms/strategies/strategy-params.ts). */
  aggregatorParams: z.record(z.string(), z.unknown()).nullable().default(null),
  requirement: z.string().min(1).nullable().default(null),
  requirementArgs: z.array(z.unknown()).default([]),
  updateSchema: z.record(z.string(), z.unknown()).nullable().default(null),
  clientAggResultsSchema: z.record(z.string(), z.unknown()).nullable().default(null),
  furthestBaseAgg: z.number().int().positive('must be at least 1').nullable().default(null),
  allowAggregation: z.boolean().default(false),
  secureAggregation: SecureAggregationOptionsSchema.nullable().default(null),
  joinSecret: z.string().min(8, 'must be at least 8 characters').max(200).nullable().default(null),
});

/** The model, or null when none has that id (FMA's `pull_federated_model_w_id`). */
export async function pullFederatedModelWId(context: ConnectorContext, fedModelId: number): Promise<FederatedModel | null> {
  const id = parseArgument(EntityIdSchema, fedModelId, 'fed_model_id');
  const { federatedModels } = await context.collections();
  const document = await federatedModels.findOne({ _id: id });
  return document === null ? null : toFederatedModel(document);
}

/** The model, or NotFoundError. */
export async function requireModel(context: ConnectorContext, model: Ref): Promise<FederatedModel> {
  const id = parseArgument(RefSchema, model, 'model');
  const found = await pullFederatedModelWId(context, id);
  if (found === null) throw new NotFoundError(`Federated model ${id} does not exist`);
  return found;
}

export async function pullModelRequirements(context: ConnectorContext, model: Ref): Promise<Requirements> {
  const found = await requireModel(context, model);
  return [found.requirement, found.requirementArgs];
}

export async function createFederatedModel(context: ConnectorContext, input: NewFederatedModel): Promise<FederatedModel> {
  const model = parseArgument(NewFederatedModelSchema, input, 'model');
  // Unknown algorithm names and bad parameters are refused here, not discovered by a run (FMA skipped them).
  assertSecureAggregationStrategy(parseStrategy(model.aggregator, model.aggregatorParams), model.secureAggregation);
  if (model.requirement !== null) validateRequirement(model.requirement, model.requirementArgs);
  const { counters, federatedModels } = await context.collections();
  const now = new Date();
  const document: FederatedModelDocument = {
    _id: await allocateIds(counters, Sequence.models),
    name: model.name,
    developer: model.developer,
    aggregator: model.aggregator,
    aggregatorParamsJson: model.aggregatorParams === null ? null : JSON.stringify(model.aggregatorParams),
    requirement: model.requirement,
    requirementArgsJson: JSON.stringify(model.requirementArgs),
    updateSchemaJson: model.updateSchema === null ? null : JSON.stringify(model.updateSchema),
    clientAggResultsSchemaJson: model.clientAggResultsSchema === null ? null : JSON.stringify(model.clientAggResultsSchema),
    furthestBaseAgg: model.furthestBaseAgg,
    allowAggregation: model.allowAggregation,
    currentArtifact: null,
    weightsShape: null,
    weightsShapeSource: null,
    secureAggregation: model.secureAggregation,
    joinSecretHash: model.joinSecret === null ? null : hashJoinSecret(model.joinSecret),
    createdOn: now,
    lastModified: now,
  };
  await federatedModels.insertOne(document);
  await addModelClients(context, document._id, model.clients);
  return toFederatedModel(document);
}

export async function addClientsToModel(context: ConnectorContext, model: Ref, clients: readonly string[]): Promise<FederatedModel> {
  const id = parseArgument(RefSchema, model, 'model');
  const toAdd = parseArgument(z.array(ClientIdSchema), clients, 'clients');
  await requireModel(context, id);
  await addModelClients(context, id, toAdd);
  return touchModel(context, id);
}

/** The model's members become exactly `clients` (a PUT or PATCH of `clients`). */
export async function setModelClients(context: ConnectorContext, model: Ref, clients: readonly string[]): Promise<FederatedModel> {
  const id = parseArgument(RefSchema, model, 'model');
  const members = parseArgument(z.array(ClientIdSchema), clients, 'clients');
  await requireModel(context, id);
  await replaceModelClients(context, id, members);
  forgetModel(context, id);
  return touchModel(context, id);
}

/** Marks the model changed now (its membership changed), with a new members stamp, and returns it. */
async function touchModel(context: ConnectorContext, id: number): Promise<FederatedModel> {
  const { federatedModels } = await context.collections();
  // A new members stamp: other containers forget the members they remember of it (member-cache.ts).
  // Written after the members changed, so that a container reading the new stamp reads them as changed.
  const updated = await federatedModels.findOneAndUpdate(
    { _id: id },
    { $set: { lastModified: new Date(), membersStamp: randomUUID() } },
    { returnDocument: 'after' },
  );
  if (updated === null) throw new NotFoundError(`Federated model ${id} does not exist`);
  return toFederatedModel(updated);
}

const FederatedModelChangesSchema = NewFederatedModelSchema.pick({
  name: true,
  aggregator: true,
  aggregatorParams: true,
  requirement: true,
  requirementArgs: true,
  updateSchema: true,
  clientAggResultsSchema: true,
  furthestBaseAgg: true,
  allowAggregation: true,
  secureAggregation: true,
}).partial();

/**
 * Changes a model with the checks of creation (the aggregator and the requirement with its
 * arguments, as they are after the change). The weights shape is not a setting: it stays. A run
 * reads the model as it goes, so a change applies from the next run on.
 */
export async function updateFederatedModel(context: ConnectorContext, model: Ref, changes: FederatedModelChanges): Promise<FederatedModel> {
  const current = await requireModel(context, model);
  // `.partial()` keeps the defaults of creation; only the keys given are changes.
  const given = new Set(Object.keys(changes).filter((key) => (changes as Record<string, unknown>)[key] !== undefined));
  const parsed = parseArgument(FederatedModelChangesSchema, changes, 'model') as Record<string, unknown>;
  const change = Object.fromEntries(Object.entries(parsed).filter(([key]) => given.has(key))) as FederatedModelChanges;
  const aggregator = change.aggregator ?? current.aggregator;
  const aggregatorParams = change.aggregatorParams === undefined ? current.aggregatorParams : change.aggregatorParams;
  // Parsed above, so with its defaults filled in.
  const secureAggregation = change.secureAggregation === undefined ? current.secureAggregation : (change.secureAggregation as SecureAggregationOptions | null);
  if (change.aggregator !== undefined || change.aggregatorParams !== undefined || change.secureAggregation !== undefined) {
    assertSecureAggregationStrategy(parseStrategy(aggregator, aggregatorParams), secureAggregation);
  }
  const requirement = change.requirement === undefined ? current.requirement : change.requirement;
  const requirementArgs = change.requirementArgs ?? current.requirementArgs;
  if (requirement !== null && (change.requirement !== undefined || change.requirementArgs !== undefined)) {
    validateRequirement(requirement, [...requirementArgs]);
  }
  const set: Partial<FederatedModelDocument> = { lastModified: new Date() };
  if (change.name !== undefined) set.name = change.name;
  if (change.aggregator !== undefined) set.aggregator = change.aggregator;
  if (change.aggregatorParams !== undefined) {
    set.aggregatorParamsJson = change.aggregatorParams === null ? null : JSON.stringify(change.aggregatorParams);
  }
  if (change.requirement !== undefined) set.requirement = change.requirement;
  if (change.requirementArgs !== undefined) set.requirementArgsJson = JSON.stringify(change.requirementArgs);
  if (change.updateSchema !== undefined) set.updateSchemaJson = change.updateSchema === null ? null : JSON.stringify(change.updateSchema);
  if (change.clientAggResultsSchema !== undefined) {
    set.clientAggResultsSchemaJson = change.clientAggResultsSchema === null ? null : JSON.stringify(change.clientAggResultsSchema);
  }
  if (change.furthestBaseAgg !== undefined) set.furthestBaseAgg = change.furthestBaseAgg;
  if (change.allowAggregation !== undefined) set.allowAggregation = change.allowAggregation;
  if (change.secureAggregation !== undefined) set.secureAggregation = secureAggregation;
  const { federatedModels } = await context.collections();
  const updated = await federatedModels.findOneAndUpdate({ _id: current.id }, { $set: set }, { returnDocument: 'after' });
  forgetModel(context, current.id);
  if (updated === null) throw new NotFoundError(`Federated model ${current.id} does not exist`);
  return toFederatedModel(updated);
}

/** Ids of a developer's models. */
export function pullModelsOfDeveloper(context: ConnectorContext, developer: string): Promise<number[]> {
  return modelIds(context, { developer });
}

/**
 * Ids of the models with `allowAggregation` that have claimable updates (PENDING or FAILED): the
 * schedule's candidates, in two queries for all models, whatever their number.
 */
export async function pullModelsWithClaimableUpdates(context: ConnectorContext): Promise<number[]> {
  const allowing = await pullModelsAllowingAggregation(context);
  if (allowing.length === 0) return [];
  const { modelUpdates } = await context.collections();
  const withWork = (await modelUpdates.distinct('federatedModel', {
    federatedModel: { $in: allowing },
    status: { $in: [...CLAIMABLE_STATUSES] },
  })) as number[];
  return withWork.sort((a, b) => a - b);
}

/**
 * The claimable update that has waited longest among these models' (the scheduled trigger's
 * `OldestPendingUpdateAge` metric): one indexed query, or null when none waits.
 */
export async function oldestClaimableUpdate(context: ConnectorContext, models: readonly number[]): Promise<{ model: number; update: number; createdOn: Date } | null> {
  if (models.length === 0) return null;
  const { modelUpdates } = await context.collections();
  const [oldest] = await modelUpdates
    .find({ federatedModel: { $in: [...models] }, status: { $in: [...CLAIMABLE_STATUSES] } }, { projection: { _id: 1, federatedModel: 1, createdOn: 1 } })
    .sort({ createdOn: 1, _id: 1 })
    .limit(1)
    .toArray();
  return oldest === undefined ? null : { model: oldest.federatedModel, update: oldest._id, createdOn: oldest.createdOn };
}

/** Ids of the models whose `allowAggregation` is set (the scheduled trigger). */
export async function pullModelsAllowingAggregation(context: ConnectorContext): Promise<number[]> {
  const { federatedModels } = await context.collections();
  const found = await federatedModels.find({ allowAggregation: true }, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray();
  return found.map((model) => model._id);
}

export async function listFederatedModels(
  context: ConnectorContext,
  filter: { developer: string; allowAggregation?: boolean },
  page: Page,
): Promise<Paged<FederatedModel>> {
  const { federatedModels } = await context.collections();
  const query: Filter<FederatedModelDocument> = { developer: filter.developer };
  if (filter.allowAggregation !== undefined) query.allowAggregation = filter.allowAggregation;
  return newestFirstPage(federatedModels, query, {}, page, toFederatedModel);
}

async function modelIds(context: ConnectorContext, filter: Filter<FederatedModelDocument>): Promise<number[]> {
  const { federatedModels } = await context.collections();
  const found = await federatedModels.find(filter, { projection: { _id: 1 } }).toArray();
  return found.map((model) => model._id);
}

/**
 * Checks that weights of `shape` fit the model: the shape of its latest aggregate, else of its
 * current artifact, else of its first accepted update. A model without weights takes this shape,
 * with one conditional update, so of two racing first updates of different shapes one is refused.
 */
export async function admitWeightsShape(context: ConnectorContext, model: FederatedModel, shape: WeightsShape, field: string): Promise<void> {
  const fits = (expected: WeightsShape) => sameShape(expected, shape) && expected.length === shape.length;
  if (model.weightsShape !== null && fits(model.weightsShape)) return;
  const { federatedModels } = await context.collections();
  if (model.weightsShape === null) {
    const { modifiedCount } = await federatedModels.updateOne(
      { _id: model.id, weightsShape: null },
      { $set: { weightsShape: toStoredShape(shape), weightsShapeSource: 'update' } },
    );
    if (modifiedCount === 1) {
      rememberWeightsShape(context, model.id, shape);
      return;
    }
  }
  // Refused, or another request set the shape first: read what the model expects now.
  const found = await federatedModels.findOne({ _id: model.id }, { projection: { weightsShape: 1, weightsShapeSource: 1 } });
  if (found?.weightsShape == null) return;
  const expected = fromStoredShape(found.weightsShape);
  // The container's copy of the model was older than the shape set since (member-cache.ts).
  rememberWeightsShape(context, model.id, expected);
  if (fits(expected)) return;
  const source = found.weightsShapeSource === 'update' ? 'first update' : (found.weightsShapeSource ?? 'weights');
  throw shapeMismatch(model.id, shape, expected, `the shape of its ${source}`, field);
}

/** Refuses weights of another shape than the model has now, without admitting a shape when it has none. */
export function assertFitsWeightsShape(model: FederatedModel, shape: WeightsShape, field: string): void {
  const expected = model.weightsShape;
  if (expected === null || (sameShape(expected, shape) && expected.length === shape.length)) return;
  throw shapeMismatch(model.id, shape, expected, 'its shape', field);
}

function shapeMismatch(model: number, shape: WeightsShape, expected: WeightsShape, why: string, field: string): ValidationError {
  const message = `has shape ${describeShape(shape)}, but federated model ${model} expects ${describeShape(expected)} (${why})`;
  return new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}

/** Records the shape of the model's newest weights: an aggregate's always, an artifact's unless an aggregate set it. */
export async function recordWeightsShape(
  context: ConnectorContext,
  model: number,
  shape: WeightsShape,
  source: 'aggregate' | 'artifact',
): Promise<void> {
  const { federatedModels } = await context.collections();
  forgetModel(context, model);
  await federatedModels.updateOne(
    source === 'aggregate' ? { _id: model } : { _id: model, weightsShapeSource: { $ne: 'aggregate' } },
    { $set: { weightsShape: toStoredShape(shape), weightsShapeSource: source } },
  );
}
