import { randomUUID } from 'node:crypto';
import type { Filter } from 'mongodb';
import { z } from 'zod';
import { assertUsableByAggregator } from '../../algorithms';
import type { ModelUpdateDocument } from '../../db/collections';
import { CLAIMABLE_STATUSES, ClientIdSchema, EntityIdSchema, ReasonSchema, UpdateStatus, type FederatedModel, type ModelUpdate } from '../../entities';
import { ForbiddenError, NotFoundError, ValidationError } from '../../errors';
import { parseWeights, shapeOfWeights, toStoredWeightsRef, type Weights, type WeightsRef } from '../../weights';
import type { ClaimResult, NewModelUpdate, Page, Paged, Ref, RunScope, TransitionResult } from '../metadata-connector';
import { OptionalRunSchema, parseArgument, parseIdList, RefSchema, uniqueIds } from './arguments';
import type { ConnectorContext } from './context';
import { toModelUpdate } from './documents';
import { takeIds } from './ids';
import { modelsAndMembers, modelsOfAggregates } from './member-cache';
import { ancestorWindow, requireAggregateOfModel } from './aggregates';
import { membershipId, modelClientsAmong } from './model-clients';
import { admitWeightsShape, requireModel } from './models';
import { putWeights, readWeights } from '../../store/weights';
import { historyEntry, idBatchSize, newestFirstPage, Sequence, splitIds } from './queries';

// Model updates and their status transitions. Each transition is one `updateMany` whose filter
// holds the expected status (and the model, and the run when one is named), so each update moves
// at most once per transition even when runs race; it stamps a fresh `transition` id on what it
// moved, so the caller learns exactly which updates it moved.

const NewModelUpdateSchema = z.object({
  federatedModel: EntityIdSchema,
  client: ClientIdSchema,
  data: z.unknown(),
  baseAggregate: EntityIdSchema.nullable().default(null),
  numExamples: z.number().int().nonnegative().nullable().default(null),
  idempotencyKey: z.string().min(1).max(255).nullable().default(null),
});

/** PENDING or FAILED updates of the model whose client is in the model. */
export async function pullModelUpdatesPendingAggregation(context: ConnectorContext, model: Ref): Promise<ModelUpdate[]> {
  const found = await requireModel(context, model);
  return findUpdates(context, await pendingFilter(context, found));
}

/** The pending updates, limited to the `furthestBaseAgg` window ending at `parentAgg` itself. */
export async function pullModelUpdatesReadyForAggregation(
  context: ConnectorContext,
  model: Ref,
  parentAgg: Ref | null,
): Promise<ModelUpdate[]> {
  return findUpdates(context, (await readyUpdatesFilter(context, model, parentAgg)).filter);
}

/** How many updates are ready (as pullModelUpdatesReadyForAggregation lists them), in one count. */
export async function countModelUpdatesReadyForAggregation(context: ConnectorContext, model: Ref, parentAgg: Ref | null): Promise<number> {
  const { modelUpdates } = await context.collections();
  return modelUpdates.countDocuments((await readyUpdatesFilter(context, model, parentAgg)).filter);
}

/** The filter of the model's ready updates: pending, from members, within the base window of `parentAgg`. */
export async function readyUpdatesFilter(
  context: ConnectorContext,
  model: Ref,
  parentAgg: Ref | null,
): Promise<{ model: number; filter: Filter<ModelUpdateDocument> }> {
  const found = await requireModel(context, model);
  const parent = parentAgg === null ? null : await requireAggregateOfModel(context, parentAgg, found.id, 'parent_agg');
  const filter = await pendingFilter(context, found);
  if (parent !== null && found.furthestBaseAgg !== null) {
    filter.baseAggregate = { $in: await ancestorWindow(context, parent, found.furthestBaseAgg) };
  }
  return { model: found.id, filter };
}

/** PENDING/FAILED → RUNNING for exactly these updates, in one guarded `updateMany`. */
export async function registerModelUpdatesForAggregation(
  context: ConnectorContext,
  modelUpdates: readonly Ref[],
  options: RunScope & { readonly model?: Ref } = {},
): Promise<ClaimResult> {
  const ids = parseIdList(modelUpdates);
  const run = parseArgument(OptionalRunSchema, options.run, 'run') ?? randomUUID();
  const expectedModel = options.model === undefined ? undefined : parseArgument(RefSchema, options.model, 'model');
  if (ids.length === 0) return { run, claimed: [], notClaimed: [] };
  const model = await requireUpdatesOfOneModel(context, ids, expectedModel);

  const { modelUpdates: updates } = await context.collections();
  const now = new Date();
  await updates.updateMany(
    { _id: { $in: ids }, federatedModel: model, status: { $in: [...CLAIMABLE_STATUSES] } },
    {
      $set: { status: UpdateStatus.RUNNING, claimedBy: run, claimedAt: now, statusReason: null },
      $push: historyEntry({ status: UpdateStatus.RUNNING, at: now, run, reason: null }),
    },
  );
  // Read back what this run holds: the ones just claimed and any it had claimed before, so a
  // retried claim (a Step Functions retry) answers the same.
  const held = await updates
    .find({ _id: { $in: ids }, status: UpdateStatus.RUNNING, claimedBy: run }, { projection: { _id: 1 }, batchSize: idBatchSize(ids) })
    .toArray();
  return splitIds(ids, held, (claimed, notClaimed) => ({ run, claimed, notClaimed }));
}

/** The model's RUNNING updates; with a run, only those it claimed. */
export async function pullModelUpdatesRegisteredForAggregation(
  context: ConnectorContext,
  model: Ref,
  options: RunScope = {},
): Promise<ModelUpdate[]> {
  const { id } = await requireModel(context, model);
  const run = parseArgument(OptionalRunSchema, options.run, 'run');
  return findUpdates(context, {
    federatedModel: id,
    status: UpdateStatus.RUNNING,
    ...(run === undefined ? {} : { claimedBy: run }),
  });
}

/** Records the aggregate on RUNNING updates; their status stays RUNNING. */
export async function registerModelUpdateUsedInAggregate(
  context: ConnectorContext,
  modelUpdates: readonly Ref[],
  aggregate: Ref,
  options: RunScope = {},
): Promise<TransitionResult> {
  const ids = parseIdList(modelUpdates);
  const aggregateId = parseArgument(RefSchema, aggregate, 'aggregate');
  const run = parseArgument(OptionalRunSchema, options.run, 'run');
  const { modelAggregates, modelUpdates: updates } = await context.collections();
  const found = await modelAggregates.findOne({ _id: aggregateId }, { projection: { federatedModel: 1 } });
  if (found === null) throw new NotFoundError(`Model aggregate ${aggregateId} does not exist`);
  if (ids.length === 0) return { updated: [], notUpdated: [] };
  const model = await requireUpdatesOfOneModel(context, ids, found.federatedModel, 'aggregate');

  const transition = randomUUID();
  await updates.updateMany(
    { _id: { $in: ids }, federatedModel: model, status: UpdateStatus.RUNNING, ...(run === undefined ? {} : { claimedBy: run }) },
    { $set: { appliedAggregate: aggregateId, transition } },
  );
  return transitioned(context, ids, transition);
}

/** RUNNING → COMPLETE when successful, RUNNING → FAILED (eligible again) when not. */
export async function registerModelUpdatesUseInAggregationComplete(
  context: ConnectorContext,
  modelUpdates: readonly Ref[],
  isSuccessful: boolean,
  options: RunScope & { readonly reason?: string } = {},
): Promise<TransitionResult> {
  const ids = parseIdList(modelUpdates);
  const successful = parseArgument(z.boolean({ error: 'must be true or false' }), isSuccessful, 'is_successful');
  const run = parseArgument(OptionalRunSchema, options.run, 'run');
  const reason = parseArgument(ReasonSchema.optional(), options.reason, 'reason') ?? null;
  if (ids.length === 0) return { updated: [], notUpdated: [] };
  const model = await requireUpdatesOfOneModel(context, ids, undefined);

  const { modelUpdates: updates } = await context.collections();
  const status = successful ? UpdateStatus.COMPLETE : UpdateStatus.FAILED;
  const now = new Date();
  const transition = randomUUID();
  await updates.updateMany(
    { _id: { $in: ids }, federatedModel: model, status: UpdateStatus.RUNNING, ...(run === undefined ? {} : { claimedBy: run }) },
    {
      $set: { status, statusReason: successful ? null : reason, transition },
      $push: historyEntry({ status, at: now, run: run ?? null, reason: successful ? null : reason }),
    },
  );
  return transitioned(context, ids, transition);
}

/**
 * New PENDING updates, checked all before any is written: model, membership, base aggregate,
 * weights. The models, memberships and base aggregates come from the container's cache
 * (member-cache.ts) when fresh, so the usual submission sends one write: its insert (ids come from
 * the container's block, ids.ts).
 */
export async function createModelUpdates(context: ConnectorContext, inputs: readonly NewModelUpdate[]): Promise<ModelUpdate[]> {
  const parsed = parseArgument(z.array(NewModelUpdateSchema).min(1), inputs, 'model_updates');
  const baseIds = uniqueIds(parsed.flatMap((update) => (update.baseAggregate === null ? [] : [update.baseAggregate])));
  // No query when no update names a base aggregate (FMA's clients send null in a first round).
  const [{ models, members }, bases] = await Promise.all([
    modelsAndMembers(context, parsed.map((update) => ({ model: update.federatedModel, client: update.client }))),
    baseIds.length === 0 ? new Map<number, number>() : modelsOfAggregates(context, baseIds),
  ]);

  // Check everything before writing anything.
  const weights = parsed.map((update, i) => {
    const model = models.get(update.federatedModel)?.model;
    if (model === undefined) throw new NotFoundError(`Federated model ${update.federatedModel} does not exist`);
    if (!members.has(membershipId(model.id, update.client))) {
      throw new ForbiddenError(`Client ${update.client} is not a client of federated model ${model.id}`);
    }
    if (update.baseAggregate !== null) {
      const baseModel = bases.get(update.baseAggregate);
      if (baseModel === undefined) throw new NotFoundError(`Model aggregate ${update.baseAggregate} does not exist`);
      if (baseModel !== model.id) {
        throw new ValidationError(`base_aggregate ${update.baseAggregate} belongs to federated model ${baseModel}, not ${model.id}`, {
          details: [{ field: 'base_aggregate', message: 'must be an aggregate of the same federated model' }],
        });
      }
    }
    assertUsableByAggregator(model.aggregator, update.numExamples, parsed.length === 1 ? 'num_examples' : `model_updates.${i}.num_examples`);
    return parseWeights(update.data, dataField(parsed.length, i));
  });
  const shaped = new Map([...models].map(([id, cached]) => [id, cached.model]));
  for (const [i, update] of parsed.entries()) {
    const model = shaped.get(update.federatedModel)!;
    const shape = shapeOfWeights(weights[i]!);
    await admitWeightsShape(context, model, shape, dataField(parsed.length, i));
    shaped.set(model.id, { ...model, weightsShape: shape });
  }

  // The bytes go to the store first: a document never refers to bytes that are not there.
  const refs = await Promise.all(parsed.map((update, i) => putWeights(context.store(), 'updates', update.federatedModel, weights[i]!)));
  const firstId = await takeIds(context, Sequence.updates, parsed.length);
  const documents = parsed.map((update, i) => newUpdateDocument(firstId + i, update, refs[i]!));
  const { modelUpdates } = await context.collections();
  await modelUpdates.insertMany(documents, { ordered: true });
  return documents.map(toModelUpdate);
}

function dataField(count: number, index: number): string {
  return count === 1 ? 'data' : `model_updates.${index}.data`;
}

/** A new PENDING update document. */
export function newUpdateDocument(
  id: number,
  update: { federatedModel: number; client: string; baseAggregate: number | null; numExamples: number | null; idempotencyKey?: string | null },
  ref: WeightsRef,
): ModelUpdateDocument {
  const now = new Date();
  return {
    ...(update.idempotencyKey == null ? {} : { idempotencyKey: update.idempotencyKey }),
    _id: id,
    federatedModel: update.federatedModel,
    client: update.client,
    weights: toStoredWeightsRef(ref),
    numExamples: update.numExamples,
    baseAggregate: update.baseAggregate,
    appliedAggregate: null,
    status: UpdateStatus.PENDING,
    claimedBy: null,
    claimedAt: null,
    statusReason: null,
    statusHistory: [{ status: UpdateStatus.PENDING, at: now, run: null, reason: null }],
    createdOn: now,
  };
}

export async function pullModelUpdates(context: ConnectorContext, ids: readonly Ref[]): Promise<ModelUpdate[]> {
  return findUpdates(context, { _id: { $in: parseIdList(ids) } });
}

/** The updates' weights, whole in memory (for JSON replies; aggregation streams instead). */
export async function pullModelUpdateWeights(context: ConnectorContext, ids: readonly Ref[]): Promise<Map<number, Weights>> {
  const found = await pullModelUpdates(context, ids);
  const weights = await Promise.all(found.map((update) => readWeights(context.store(), update.weights)));
  return new Map(found.map((update, i) => [update.id, weights[i]!]));
}

export async function listModelUpdates(
  context: ConnectorContext,
  filter: { client?: string; models?: number[]; status?: number },
  page: Page,
): Promise<Paged<ModelUpdate>> {
  const { modelUpdates } = await context.collections();
  const query: Filter<ModelUpdateDocument> = {
    ...(filter.client === undefined ? {} : { client: filter.client }),
    ...(filter.models === undefined ? {} : { federatedModel: { $in: filter.models } }),
    ...(filter.status === undefined ? {} : { status: filter.status as UpdateStatus }),
  };
  return newestFirstPage(modelUpdates, query, {}, page, toModelUpdate);
}

/**
 * Checks that every id names an existing update and that all belong to one model (the expected
 * one, when given), and returns that model. Throws before anything is written.
 */
async function requireUpdatesOfOneModel(
  context: ConnectorContext,
  ids: number[],
  expectedModel: number | undefined,
  against = 'model',
): Promise<number> {
  const { modelUpdates } = await context.collections();
  const found = await modelUpdates.find({ _id: { $in: ids } }, { projection: { federatedModel: 1 }, batchSize: idBatchSize(ids) }).toArray();
  if (found.length !== ids.length) {
    const known = new Set(found.map((update) => update._id));
    const missing = ids.filter((id) => !known.has(id));
    throw new NotFoundError(`Model updates do not exist: ${missing.slice(0, 20).join(', ')}`, {
      details: [{ field: 'model_updates', message: `unknown ids ${missing.slice(0, 20).join(', ')}` }],
    });
  }
  const models = uniqueIds(found.map((update) => update.federatedModel));
  const model = expectedModel ?? models[0]!;
  const foreign = found.filter((update) => update.federatedModel !== model).map((update) => update._id);
  if (foreign.length > 0) {
    throw new ValidationError(
      `Model updates ${foreign.slice(0, 20).join(', ')} do not belong to federated model ${model} (of the ${against})`,
      { details: [{ field: 'model_updates', message: `all updates must belong to federated model ${model}` }] },
    );
  }
  return model;
}

async function findUpdates(context: ConnectorContext, filter: Filter<ModelUpdateDocument>): Promise<ModelUpdate[]> {
  const { modelUpdates } = await context.collections();
  const found = await modelUpdates.find(filter).sort({ _id: 1 }).toArray();
  return found.map(toModelUpdate);
}

async function transitioned(context: ConnectorContext, ids: number[], transition: string): Promise<TransitionResult> {
  const { modelUpdates } = await context.collections();
  const moved = await modelUpdates
    .find({ _id: { $in: ids }, transition }, { projection: { _id: 1 }, batchSize: idBatchSize(ids) })
    .toArray();
  return splitIds(ids, moved, (updated, notUpdated) => ({ updated, notUpdated }));
}

/**
 * The model's claimable updates whose client is still a member. Membership lives in its own
 * collection and FerretDB v1 has no `$lookup`, so the members among the clients with claimable
 * updates are looked up first (two indexed reads, bounded by the number of such clients).
 */
async function pendingFilter(context: ConnectorContext, model: FederatedModel): Promise<Filter<ModelUpdateDocument>> {
  const { modelUpdates } = await context.collections();
  const claimable = { federatedModel: model.id, status: { $in: [...CLAIMABLE_STATUSES] } };
  const senders = (await modelUpdates.distinct('client', claimable)) as string[];
  return { ...claimable, client: { $in: await modelClientsAmong(context, model.id, senders) } };
}
