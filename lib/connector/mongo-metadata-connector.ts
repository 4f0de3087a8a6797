import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Collection, Db, Document, Filter } from 'mongodb';
import { z } from 'zod';
import { allocateIds } from '../db/counters';
import {
  collections,
  type ClientAggregateScoreDocument,
  type Collections,
  type FederatedModelDocument,
  type ModelAggregateDocument,
  type ModelArtifactDocument,
  type ModelUpdateDocument,
} from '../db/collections';
import { isDuplicateKeyError } from '../db/driver-errors';
import { updateDatabaseLayout, type DatabaseLayout } from '../db/layout';
import {
  CLAIMABLE_STATUSES,
  ClientIdSchema,
  EntityIdSchema,
  RunIdSchema,
  UpdateStatus,
  type ClientAggregateScore,
  type FederatedModel,
  type ModelAggregate,
  type ModelArtifact,
  type ModelUpdate,
  type StatusChange,
} from '../entities';
import { AGGREGATOR_NAMES, validateRequirement } from '../algorithms';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors';
import { validationErrorFromZod } from '../errors/from-zod';
import { decodeWeights, encodeWeights, parseWeights, weightsToJson, type Weights, type WeightsJson } from '../weights';
import type {
  ClaimResult,
  LeaseResult,
  MetadataConnector,
  NewFederatedModel,
  NewModelUpdate,
  Page,
  Paged,
  Ref,
  Requirements,
  RunScope,
  TransitionResult,
} from './metadata-connector';

/** How many status transitions each update keeps (MongoDB trims with `$slice`). */
export const STATUS_HISTORY_LENGTH = 20;

const Sequence = {
  models: 'federated_models',
  updates: 'model_updates',
  aggregates: 'model_aggregates',
  artifacts: 'model_artifacts',
  scores: 'client_aggregate_scores',
} as const;

const RefSchema = z.union([EntityIdSchema, z.object({ id: EntityIdSchema }).transform((entity) => entity.id)]);
const RefListSchema = z.array(RefSchema).max(100_000, 'must hold at most 100000 ids');
const OptionalRunSchema = RunIdSchema.optional();

const NewFederatedModelSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  developer: z.string().min(1).nullable().default(null),
  clients: z.array(ClientIdSchema).default([]),
  aggregator: z.string().min(1, 'must name an aggregator'),
  requirement: z.string().min(1).nullable().default(null),
  requirementArgs: z.array(z.unknown()).default([]),
  updateSchema: z.record(z.string(), z.unknown()).nullable().default(null),
  clientAggResultsSchema: z.record(z.string(), z.unknown()).nullable().default(null),
  furthestBaseAgg: z.number().int().positive('must be at least 1').nullable().default(null),
  allowAggregation: z.boolean().default(false),
  joinSecret: z.string().min(8, 'must be at least 8 characters').max(200).nullable().default(null),
});

const NewModelUpdateSchema = z.object({
  federatedModel: EntityIdSchema,
  client: ClientIdSchema,
  data: z.unknown(),
  baseAggregate: EntityIdSchema.nullable().default(null),
  numExamples: z.number().int().nonnegative().nullable().default(null),
});

/** Parses arguments, turning a zod failure into a ValidationError that names the argument. */
function parseArgument<S extends z.ZodType>(schema: S, value: unknown, name: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationErrorFromZod(prefixIssues(parsed.error, name), `argument ${name}`);
  return parsed.data;
}

function prefixIssues(error: z.ZodError, name: string): z.ZodError {
  return new z.ZodError(error.issues.map((issue) => ({ ...issue, path: [name, ...issue.path] })));
}

function uniqueIds(ids: readonly number[]): number[] {
  return [...new Set(ids)];
}

/**
 * The metadata connector on MongoDB (the official driver). It takes a function that yields the
 * database, so Lambda handlers pass the container's shared client and tests pass their own.
 *
 * Status transitions are single `updateMany` calls whose filter holds the expected status (and
 * the model, and the run when one is named), so each update moves at most once per transition
 * even when runs race. Each transition stamps a fresh `transition` id on the updates it moved, so
 * that the caller learns exactly which ones it moved.
 */
export class MongoMetadataConnector implements MetadataConnector {
  private readonly database: () => Promise<Db>;
  private readonly onClose: () => Promise<void>;

  constructor(database: Db | (() => Promise<Db>), onClose: () => Promise<void> = async () => undefined) {
    this.database = typeof database === 'function' ? database : async () => database;
    this.onClose = onClose;
  }

  /** Releases a client the connector owns (one made by the factory from a connection string). */
  close(): Promise<void> {
    return this.onClose();
  }

  private async collections(): Promise<Collections> {
    return collections(await this.database());
  }

  // --- FMA's operations -------------------------------------------------------------------

  async pullFederatedModelWId(fedModelId: number): Promise<FederatedModel | null> {
    const id = parseArgument(EntityIdSchema, fedModelId, 'fed_model_id');
    const { federatedModels } = await this.collections();
    const document = await federatedModels.findOne({ _id: id });
    return document === null ? null : toFederatedModel(document);
  }

  async pullLatestModelAggregate(model: Ref): Promise<ModelAggregate | null> {
    const { id } = await this.requireModel(model);
    const { modelAggregates } = await this.collections();
    const [latest] = await modelAggregates
      .find({ federatedModel: id }, { projection: { result: 0 } })
      .sort({ createdOn: -1, _id: -1 })
      .limit(1)
      .toArray();
    return latest === undefined ? null : toModelAggregate(latest);
  }

  async pullModelUpdatesPendingAggregation(model: Ref): Promise<ModelUpdate[]> {
    const found = await this.requireModel(model);
    return this.findUpdates(pendingFilter(found));
  }

  async pullModelUpdatesReadyForAggregation(model: Ref, parentAgg: Ref | null): Promise<ModelUpdate[]> {
    const found = await this.requireModel(model);
    const parent = parentAgg === null ? null : await this.requireAggregateOfModel(parentAgg, found.id, 'parent_agg');
    const filter = pendingFilter(found);
    if (parent !== null && found.furthestBaseAgg !== null) {
      filter.baseAggregate = { $in: await this.ancestorWindow(parent, found.furthestBaseAgg) };
    }
    return this.findUpdates(filter);
  }

  async pullModelRequirements(model: Ref): Promise<Requirements> {
    const found = await this.requireModel(model);
    return [found.requirement, found.requirementArgs];
  }

  async registerModelUpdatesForAggregation(
    modelUpdates: readonly Ref[],
    options: RunScope & { readonly model?: Ref } = {},
  ): Promise<ClaimResult> {
    const ids = uniqueIds(parseArgument(RefListSchema, modelUpdates, 'model_updates'));
    const run = parseArgument(OptionalRunSchema, options.run, 'run') ?? randomUUID();
    const expectedModel = options.model === undefined ? undefined : parseArgument(RefSchema, options.model, 'model');
    if (ids.length === 0) return { run, claimed: [], notClaimed: [] };
    const model = await this.requireUpdatesOfOneModel(ids, expectedModel);

    const { modelUpdates: updates } = await this.collections();
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
      .find(
        { _id: { $in: ids }, status: UpdateStatus.RUNNING, claimedBy: run },
        { projection: { _id: 1 }, batchSize: idBatchSize(ids) },
      )
      .toArray();
    return splitIds(ids, held, (claimed, notClaimed) => ({ run, claimed, notClaimed }));
  }

  async pullModelUpdatesRegisteredForAggregation(model: Ref, options: RunScope = {}): Promise<ModelUpdate[]> {
    const { id } = await this.requireModel(model);
    const run = parseArgument(OptionalRunSchema, options.run, 'run');
    return this.findUpdates({
      federatedModel: id,
      status: UpdateStatus.RUNNING,
      ...(run === undefined ? {} : { claimedBy: run }),
    });
  }

  async postNewModelAggregate(
    model: Ref,
    parentAgg: Ref | null,
    results: unknown,
    options: RunScope = {},
  ): Promise<ModelAggregate> {
    const found = await this.requireModel(model);
    const parent = parentAgg === null ? null : await this.requireAggregateOfModel(parentAgg, found.id, 'parent_agg');
    return this.insertAggregate(found, parent, parseWeights(results, 'results'), options);
  }

  async postNewModelAggregateWeights(
    model: Ref,
    parentAgg: Ref | null,
    weights: Weights,
    options: RunScope = {},
  ): Promise<ModelAggregate> {
    const found = await this.requireModel(model);
    const parent = parentAgg === null ? null : await this.requireAggregateOfModel(parentAgg, found.id, 'parent_agg');
    if (!weights.values.every(Number.isFinite)) throw new ValidationError('results must hold finite numbers only');
    return this.insertAggregate(found, parent, weights, options);
  }

  private async insertAggregate(
    found: FederatedModel,
    parent: ModelAggregate | null,
    weights: Weights,
    options: RunScope,
  ): Promise<ModelAggregate> {
    const run = parseArgument(OptionalRunSchema, options.run, 'run') ?? null;
    const { counters, modelAggregates } = await this.collections();
    const document: ModelAggregateDocument = {
      _id: await allocateIds(counters, Sequence.aggregates),
      federatedModel: found.id,
      parent: parent?.id ?? null,
      level: parent === null ? 0 : parent.level + 1,
      result: encodeWeights(weights),
      validationScore: null,
      run,
      createdOn: new Date(),
    };
    await modelAggregates.insertOne(document);
    return toModelAggregate(document);
  }

  async registerModelUpdateUsedInAggregate(
    modelUpdates: readonly Ref[],
    aggregate: Ref,
    options: RunScope = {},
  ): Promise<TransitionResult> {
    const ids = uniqueIds(parseArgument(RefListSchema, modelUpdates, 'model_updates'));
    const aggregateId = parseArgument(RefSchema, aggregate, 'aggregate');
    const run = parseArgument(OptionalRunSchema, options.run, 'run');
    const { modelAggregates, modelUpdates: updates } = await this.collections();
    const found = await modelAggregates.findOne({ _id: aggregateId }, { projection: { result: 0 } });
    if (found === null) throw new NotFoundError(`Model aggregate ${aggregateId} does not exist`);
    if (ids.length === 0) return { updated: [], notUpdated: [] };
    const model = await this.requireUpdatesOfOneModel(ids, found.federatedModel, 'aggregate');

    const transition = randomUUID();
    await updates.updateMany(
      { _id: { $in: ids }, federatedModel: model, status: UpdateStatus.RUNNING, ...(run === undefined ? {} : { claimedBy: run }) },
      { $set: { appliedAggregate: aggregateId, transition } },
    );
    return this.transitioned(ids, transition);
  }

  async registerModelUpdatesUseInAggregationComplete(
    modelUpdates: readonly Ref[],
    isSuccessful: boolean,
    options: RunScope & { readonly reason?: string } = {},
  ): Promise<TransitionResult> {
    const ids = uniqueIds(parseArgument(RefListSchema, modelUpdates, 'model_updates'));
    const successful = parseArgument(z.boolean({ error: 'must be true or false' }), isSuccessful, 'is_successful');
    const run = parseArgument(OptionalRunSchema, options.run, 'run');
    const reason = parseArgument(z.string().max(1_000).optional(), options.reason, 'reason') ?? null;
    if (ids.length === 0) return { updated: [], notUpdated: [] };
    const model = await this.requireUpdatesOfOneModel(ids, undefined);

    const { modelUpdates: updates } = await this.collections();
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
    return this.transitioned(ids, transition);
  }

  async updateDatabase(): Promise<DatabaseLayout> {
    return updateDatabaseLayout(await this.database());
  }

  // --- Beyond FMA's connector ---------------------------------------------------------------

  async createClient(): Promise<{ id: string; createdOn: Date }> {
    const { clients } = await this.collections();
    const client = { _id: randomUUID(), createdOn: new Date() };
    await clients.insertOne(client);
    return { id: client._id, createdOn: client.createdOn };
  }

  async createFederatedModel(input: NewFederatedModel): Promise<FederatedModel> {
    const model = parseArgument(NewFederatedModelSchema, input, 'model');
    // Unknown algorithm names are refused here, not discovered by a run (FMA skipped them).
    if (!AGGREGATOR_NAMES.includes(model.aggregator)) {
      throw new ValidationError(`Unknown aggregator "${model.aggregator}"; known aggregators: ${AGGREGATOR_NAMES.join(', ')}`, {
        details: [{ field: 'aggregator', message: `must be one of ${AGGREGATOR_NAMES.join(', ')}` }],
      });
    }
    if (model.requirement !== null) validateRequirement(model.requirement, model.requirementArgs);
    const { counters, federatedModels } = await this.collections();
    const now = new Date();
    const document: FederatedModelDocument = {
      _id: await allocateIds(counters, Sequence.models),
      name: model.name,
      developer: model.developer,
      clients: uniqueStrings(model.clients),
      aggregator: model.aggregator,
      requirement: model.requirement,
      requirementArgsJson: JSON.stringify(model.requirementArgs),
      updateSchemaJson: model.updateSchema === null ? null : JSON.stringify(model.updateSchema),
      clientAggResultsSchemaJson:
        model.clientAggResultsSchema === null ? null : JSON.stringify(model.clientAggResultsSchema),
      furthestBaseAgg: model.furthestBaseAgg,
      allowAggregation: model.allowAggregation,
      currentArtifact: null,
      joinSecretHash: model.joinSecret === null ? null : sha256(model.joinSecret),
      createdOn: now,
      lastModified: now,
    };
    await federatedModels.insertOne(document);
    return toFederatedModel(document);
  }

  async addClientsToModel(model: Ref, clients: readonly string[]): Promise<FederatedModel> {
    const id = parseArgument(RefSchema, model, 'model');
    const toAdd = parseArgument(z.array(ClientIdSchema), clients, 'clients');
    const { federatedModels } = await this.collections();
    const updated = await federatedModels.findOneAndUpdate(
      { _id: id },
      { $addToSet: { clients: { $each: toAdd } }, $set: { lastModified: new Date() } },
      { returnDocument: 'after' },
    );
    if (updated === null) throw new NotFoundError(`Federated model ${id} does not exist`);
    return toFederatedModel(updated);
  }

  async createModelUpdate(input: NewModelUpdate): Promise<ModelUpdate> {
    const [created] = await this.createModelUpdates([input]);
    return created!;
  }

  async createModelUpdates(inputs: readonly NewModelUpdate[]): Promise<ModelUpdate[]> {
    const parsed = parseArgument(z.array(NewModelUpdateSchema).min(1), inputs, 'model_updates');
    const { counters, federatedModels, modelAggregates, modelUpdates } = await this.collections();

    const modelIds = uniqueIds(parsed.map((update) => update.federatedModel));
    const models = new Map(
      (await federatedModels.find({ _id: { $in: modelIds } }).toArray()).map((model) => [model._id, model]),
    );
    const baseIds = uniqueIds(parsed.flatMap((update) => (update.baseAggregate === null ? [] : [update.baseAggregate])));
    const bases = new Map(
      (await modelAggregates.find({ _id: { $in: baseIds } }, { projection: { federatedModel: 1 } }).toArray()).map(
        (aggregate) => [aggregate._id, aggregate.federatedModel],
      ),
    );

    // Check everything before writing anything.
    const weights = parsed.map((update, i) => {
      const model = models.get(update.federatedModel);
      if (model === undefined) throw new NotFoundError(`Federated model ${update.federatedModel} does not exist`);
      if (!model.clients.includes(update.client)) {
        throw new ForbiddenError(`Client ${update.client} is not a client of federated model ${model._id}`);
      }
      if (update.baseAggregate !== null) {
        const baseModel = bases.get(update.baseAggregate);
        if (baseModel === undefined) throw new NotFoundError(`Model aggregate ${update.baseAggregate} does not exist`);
        if (baseModel !== model._id) {
          throw new ValidationError(
            `base_aggregate ${update.baseAggregate} belongs to federated model ${baseModel}, not ${model._id}`,
            { details: [{ field: 'base_aggregate', message: 'must be an aggregate of the same federated model' }] },
          );
        }
      }
      return parseWeights(update.data, parsed.length === 1 ? 'data' : `model_updates.${i}.data`);
    });

    const firstId = await allocateIds(counters, Sequence.updates, parsed.length);
    const now = new Date();
    const documents: ModelUpdateDocument[] = parsed.map((update, i) => ({
      _id: firstId + i,
      federatedModel: update.federatedModel,
      client: update.client,
      data: encodeWeights(weights[i]!),
      numExamples: update.numExamples,
      baseAggregate: update.baseAggregate,
      appliedAggregate: null,
      status: UpdateStatus.PENDING,
      claimedBy: null,
      claimedAt: null,
      statusReason: null,
      statusHistory: [{ status: UpdateStatus.PENDING, at: now, run: null, reason: null }],
      createdOn: now,
    }));
    await modelUpdates.insertMany(documents, { ordered: true });
    return documents.map(toModelUpdate);
  }

  async pullModelUpdates(ids: readonly Ref[]): Promise<ModelUpdate[]> {
    const parsed = uniqueIds(parseArgument(RefListSchema, ids, 'model_updates'));
    return this.findUpdates({ _id: { $in: parsed } });
  }

  async pullModelUpdateWeights(ids: readonly Ref[]): Promise<Map<number, Weights>> {
    const parsed = uniqueIds(parseArgument(RefListSchema, ids, 'model_updates'));
    const { modelUpdates } = await this.collections();
    const found = await modelUpdates.find({ _id: { $in: parsed } }, { projection: { data: 1 } }).toArray();
    return new Map(found.map((update) => [update._id, decodeWeights(update.data)]));
  }

  async pullModelAggregate(id: Ref): Promise<ModelAggregate | null> {
    const aggregateId = parseArgument(RefSchema, id, 'aggregate');
    const { modelAggregates } = await this.collections();
    const found = await modelAggregates.findOne({ _id: aggregateId }, { projection: { result: 0 } });
    return found === null ? null : toModelAggregate(found);
  }

  async pullModelAggregateWeights(id: Ref): Promise<Weights | null> {
    const aggregateId = parseArgument(RefSchema, id, 'aggregate');
    const { modelAggregates } = await this.collections();
    const found = await modelAggregates.findOne({ _id: aggregateId }, { projection: { result: 1 } });
    return found === null ? null : decodeWeights(found.result);
  }

  async pullModelAggregateResults(id: Ref): Promise<WeightsJson[] | null> {
    const weights = await this.pullModelAggregateWeights(id);
    return weights === null ? null : weightsToJson(weights);
  }

  async createModelArtifact(model: Ref, version: string, values: unknown): Promise<ModelArtifact> {
    const found = await this.requireModel(model);
    const parsedVersion = parseArgument(z.string().trim().min(1).max(100), version, 'version');
    const weights = parseWeights(values, 'values');
    const { counters, modelArtifacts, federatedModels } = await this.collections();
    const document: ModelArtifactDocument = {
      _id: await allocateIds(counters, Sequence.artifacts),
      federatedModel: found.id,
      version: parsedVersion,
      values: encodeWeights(weights),
      createdOn: new Date(),
    };
    try {
      await modelArtifacts.insertOne(document);
    } catch (error) {
      if (isDuplicateKeyError(error)) {
        throw new ConflictError(`Federated model ${found.id} already has an artifact version ${parsedVersion}`, {
          cause: error,
          details: [{ field: 'version', message: 'already exists for this model' }],
        });
      }
      throw error;
    }
    await federatedModels.updateOne(
      { _id: found.id },
      { $set: { currentArtifact: document._id, lastModified: document.createdOn } },
    );
    return toModelArtifact(document);
  }

  async createClientAggregateScore(
    aggregate: Ref,
    client: string,
    validationResults: unknown,
  ): Promise<ClientAggregateScore> {
    const aggregateId = parseArgument(RefSchema, aggregate, 'aggregate');
    const clientId = parseArgument(ClientIdSchema, client, 'client');
    const json = JSON.stringify(validationResults);
    if (json === undefined) throw new ValidationError('validation_results must be a JSON value');
    const { counters, modelAggregates, clientAggregateScores } = await this.collections();
    if ((await modelAggregates.countDocuments({ _id: aggregateId }, { limit: 1 })) === 0) {
      throw new NotFoundError(`Model aggregate ${aggregateId} does not exist`);
    }
    const document: ClientAggregateScoreDocument = {
      _id: await allocateIds(counters, Sequence.scores),
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

  // --- Aggregation runs ---------------------------------------------------------------------

  async acquireAggregationLease(model: Ref, run: string, ttlSeconds: number): Promise<LeaseResult> {
    const { id } = await this.requireModel(model);
    const runId = parseArgument(RunIdSchema, run, 'run');
    const ttl = parseArgument(z.number().int().positive().max(86_400), ttlSeconds, 'ttl_seconds');
    const { aggregationLeases, modelUpdates } = await this.collections();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ttl * 1_000);
    try {
      // Matches a lease that is free (expired) or already ours; a lease held by a live run
      // matches nothing, and the upsert then collides on _id: that is the "no".
      await aggregationLeases.findOneAndUpdate(
        { _id: id, $or: [{ expiresAt: { $lte: now } }, { run: runId }] },
        { $set: { run: runId, acquiredAt: now, expiresAt } },
        { upsert: true },
      );
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const holder = await aggregationLeases.findOne({ _id: id });
      return { acquired: false, heldBy: holder?.run ?? 'unknown', expiresAt: holder?.expiresAt ?? now, recovered: [] };
    }
    // We hold the lease, so no other run of this model is alive: whatever is RUNNING under
    // another run's name was left behind by a run that died. Return it to the pool.
    const transition = randomUUID();
    const reason = `abandoned by its run; recovered by ${runId}`;
    await modelUpdates.updateMany(
      { federatedModel: id, status: UpdateStatus.RUNNING, claimedBy: { $ne: runId } },
      {
        $set: { status: UpdateStatus.FAILED, statusReason: reason, transition },
        $push: historyEntry({ status: UpdateStatus.FAILED, at: now, run: runId, reason }),
      },
    );
    const recovered = await modelUpdates.find({ federatedModel: id, transition }, { projection: { _id: 1 } }).toArray();
    return { acquired: true, heldBy: runId, expiresAt, recovered: recovered.map((u) => u._id).sort((a, b) => a - b) };
  }

  async assertAggregationLease(model: Ref, run: string): Promise<void> {
    const id = parseArgument(RefSchema, model, 'model');
    const runId = parseArgument(RunIdSchema, run, 'run');
    const { aggregationLeases } = await this.collections();
    const held = await aggregationLeases.countDocuments({ _id: id, run: runId, expiresAt: { $gt: new Date() } });
    if (held === 0) throw new ConflictError(`Run ${runId} does not hold the aggregation lease of federated model ${id}`);
  }

  async releaseAggregationLease(model: Ref, run: string): Promise<{ released: boolean }> {
    const id = parseArgument(RefSchema, model, 'model');
    const runId = parseArgument(RunIdSchema, run, 'run');
    const { aggregationLeases } = await this.collections();
    const { deletedCount } = await aggregationLeases.deleteOne({ _id: id, run: runId });
    return { released: deletedCount === 1 };
  }

  async pullModelsAllowingAggregation(): Promise<number[]> {
    const { federatedModels } = await this.collections();
    const found = await federatedModels.find({ allowAggregation: true }, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray();
    return found.map((model) => model._id);
  }

  // --- The client and developer API -----------------------------------------------------------

  async createDeveloper(name: string): Promise<{ id: string; name: string; token: string }> {
    const parsedName = parseArgument(z.string().trim().min(1).max(200), name, 'name');
    const { developers } = await this.collections();
    const token = randomBytes(32).toString('hex');
    const id = randomUUID();
    await developers.insertOne({ _id: id, name: parsedName, tokenHash: sha256(token), createdOn: new Date() });
    return { id, name: parsedName, token };
  }

  async findDeveloperByToken(token: string): Promise<{ id: string; name: string } | null> {
    const { developers } = await this.collections();
    const found = await developers.findOne({ tokenHash: sha256(token) });
    return found === null ? null : { id: found._id, name: found.name };
  }

  async clientExists(client: string): Promise<boolean> {
    if (!ClientIdSchema.safeParse(client).success) return false;
    const { clients } = await this.collections();
    return (await clients.countDocuments({ _id: client }, { limit: 1 })) === 1;
  }

  async verifyJoinSecret(model: Ref, secret: string | undefined): Promise<boolean> {
    const id = parseArgument(RefSchema, model, 'model');
    const { federatedModels } = await this.collections();
    const found = await federatedModels.findOne({ _id: id }, { projection: { joinSecretHash: 1 } });
    if (found === null) throw new NotFoundError(`Federated model ${id} does not exist`);
    const expected = found.joinSecretHash ?? null;
    if (expected === null) return true;
    if (secret === undefined) return false;
    const given = Buffer.from(sha256(secret), 'hex');
    return timingSafeEqual(given, Buffer.from(expected, 'hex'));
  }

  async pullModelsOfClient(client: string): Promise<number[]> {
    return this.modelIds({ clients: client });
  }

  async pullModelsOfDeveloper(developer: string): Promise<number[]> {
    return this.modelIds({ developer });
  }

  private async modelIds(filter: Filter<FederatedModelDocument>): Promise<number[]> {
    const { federatedModels } = await this.collections();
    const found = await federatedModels.find(filter, { projection: { _id: 1 } }).toArray();
    return found.map((model) => model._id);
  }

  async listFederatedModels(filter: { developer: string }, page: Page): Promise<Paged<FederatedModel>> {
    const { federatedModels } = await this.collections();
    return newestFirstPage(federatedModels, { developer: filter.developer }, {}, page, toFederatedModel);
  }

  async listModelUpdates(filter: { client?: string; models?: number[] }, page: Page): Promise<Paged<ModelUpdate>> {
    const { modelUpdates } = await this.collections();
    const query: Filter<ModelUpdateDocument> = {
      ...(filter.client === undefined ? {} : { client: filter.client }),
      ...(filter.models === undefined ? {} : { federatedModel: { $in: filter.models } }),
    };
    return newestFirstPage(modelUpdates, query, { data: 0 }, page, toModelUpdate);
  }

  async listModelAggregates(filter: { models: number[] }, page: Page): Promise<Paged<ModelAggregate>> {
    const { modelAggregates } = await this.collections();
    return newestFirstPage(modelAggregates, { federatedModel: { $in: filter.models } }, { result: 0 }, page, toModelAggregate);
  }

  async setAggregateValidationScore(aggregate: Ref, score: number | null): Promise<ModelAggregate> {
    const id = parseArgument(RefSchema, aggregate, 'aggregate');
    const value = parseArgument(z.number().finite().nullable(), score, 'validation_score');
    const { modelAggregates } = await this.collections();
    // updateOne and a read, not findOneAndUpdate with a projection: FerretDB v1 has no projection
    // on findAndModify, and the weights should not travel for a score.
    const { matchedCount } = await modelAggregates.updateOne({ _id: id }, { $set: { validationScore: value } });
    if (matchedCount === 0) throw new NotFoundError(`Model aggregate ${id} does not exist`);
    return (await this.pullModelAggregate(id))!;
  }

  async pullModelArtifact(id: Ref): Promise<{ artifact: ModelArtifact; values: Weights } | null> {
    const artifactId = parseArgument(RefSchema, id, 'artifact');
    const { modelArtifacts } = await this.collections();
    const found = await modelArtifacts.findOne({ _id: artifactId });
    return found === null ? null : { artifact: toModelArtifact(found), values: decodeWeights(found.values) };
  }

  // --- helpers ------------------------------------------------------------------------------

  private async requireModel(model: Ref): Promise<FederatedModel> {
    const id = parseArgument(RefSchema, model, 'model');
    const found = await this.pullFederatedModelWId(id);
    if (found === null) throw new NotFoundError(`Federated model ${id} does not exist`);
    return found;
  }

  private async requireAggregateOfModel(aggregate: Ref, model: number, argument: string): Promise<ModelAggregate> {
    const id = parseArgument(RefSchema, aggregate, argument);
    const found = await this.pullModelAggregate(id);
    if (found === null) throw new NotFoundError(`Model aggregate ${id} does not exist`);
    if (found.federatedModel !== model) {
      throw new ValidationError(`${argument} ${id} belongs to federated model ${found.federatedModel}, not ${model}`, {
        details: [{ field: argument, message: 'must be an aggregate of the same federated model' }],
      });
    }
    return found;
  }

  /**
   * Checks that every id names an existing update and that all belong to one model (the expected
   * one, when given), and returns that model. Throws before anything is written.
   */
  private async requireUpdatesOfOneModel(ids: number[], expectedModel: number | undefined, against = 'model'): Promise<number> {
    const { modelUpdates } = await this.collections();
    const found = await modelUpdates
      .find({ _id: { $in: ids } }, { projection: { federatedModel: 1 }, batchSize: idBatchSize(ids) })
      .toArray();
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

  /** `parent` and its `window - 1` nearest ancestors, walked in memory from one query. */
  private async ancestorWindow(parent: ModelAggregate, window: number): Promise<number[]> {
    const ids = [parent.id];
    if (window === 1 || parent.parent === null) return ids;
    const { modelAggregates } = await this.collections();
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

  private async findUpdates(filter: Filter<ModelUpdateDocument>): Promise<ModelUpdate[]> {
    const { modelUpdates } = await this.collections();
    const found = await modelUpdates.find(filter, { projection: { data: 0 } }).sort({ _id: 1 }).toArray();
    return found.map(toModelUpdate);
  }

  private async transitioned(ids: number[], transition: string): Promise<TransitionResult> {
    const { modelUpdates } = await this.collections();
    const moved = await modelUpdates
      .find({ _id: { $in: ids }, transition }, { projection: { _id: 1 }, batchSize: idBatchSize(ids) })
      .toArray();
    return splitIds(ids, moved, (updated, notUpdated) => ({ updated, notUpdated }));
  }
}

/**
 * One batch for a whole id list: its documents are projected to an id and a number (tens of
 * bytes each), so even 100,000 of them fit in one reply, saving a getMore round trip per 101.
 */
function idBatchSize(ids: readonly number[]): number {
  return Math.max(1, ids.length);
}

function pendingFilter(model: FederatedModel): Filter<ModelUpdateDocument> {
  return {
    federatedModel: model.id,
    status: { $in: [...CLAIMABLE_STATUSES] },
    client: { $in: model.clients },
  };
}

function historyEntry(change: StatusChange) {
  return { statusHistory: { $each: [change], $slice: -STATUS_HISTORY_LENGTH } };
}

function splitIds<T>(ids: number[], hit: { _id: number }[], build: (hit: number[], miss: number[]) => T): T {
  const hits = new Set(hit.map((document) => document._id));
  const sorted = [...ids].sort((a, b) => a - b);
  return build(
    sorted.filter((id) => hits.has(id)),
    sorted.filter((id) => !hits.has(id)),
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One page of a listing, newest first (creation time, then id), with the total count. */
async function newestFirstPage<D extends Document & { _id: number | string }, T>(
  collection: Collection<D>,
  query: Filter<D>,
  projection: Document,
  page: Page,
  toEntity: (document: D) => T,
): Promise<Paged<T>> {
  const [count, found] = await Promise.all([
    collection.countDocuments(query),
    collection
      .find(query, { projection })
      .sort({ createdOn: -1, _id: -1 })
      .skip((page.page - 1) * page.pageSize)
      .limit(page.pageSize)
      .toArray(),
  ]);
  return { count, items: (found as D[]).map(toEntity) };
}

function uniqueStrings(values: readonly string[]): string[] {
  return [...new Set(values)];
}

// --- documents to entities -------------------------------------------------------------------

function toFederatedModel(document: FederatedModelDocument): FederatedModel {
  return {
    id: document._id,
    name: document.name,
    developer: document.developer,
    clients: document.clients,
    aggregator: document.aggregator,
    requirement: document.requirement,
    requirementArgs: JSON.parse(document.requirementArgsJson) as unknown[],
    updateSchema: document.updateSchemaJson === null ? null : JSON.parse(document.updateSchemaJson),
    clientAggResultsSchema:
      document.clientAggResultsSchemaJson === null ? null : JSON.parse(document.clientAggResultsSchemaJson),
    furthestBaseAgg: document.furthestBaseAgg,
    allowAggregation: document.allowAggregation,
    currentArtifact: document.currentArtifact,
    createdOn: document.createdOn,
    lastModified: document.lastModified,
  };
}

function toModelUpdate(document: Omit<ModelUpdateDocument, 'data'>): ModelUpdate {
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
    createdOn: document.createdOn,
  };
}

function toModelAggregate(document: Omit<ModelAggregateDocument, 'result'>): ModelAggregate {
  return {
    id: document._id,
    federatedModel: document.federatedModel,
    parent: document.parent,
    level: document.level,
    validationScore: document.validationScore,
    run: document.run,
    createdOn: document.createdOn,
  };
}

function toModelArtifact(document: ModelArtifactDocument): ModelArtifact {
  return { id: document._id, federatedModel: document.federatedModel, version: document.version, createdOn: document.createdOn };
}

function toClientAggregateScore(document: ClientAggregateScoreDocument): ClientAggregateScore {
  return {
    id: document._id,
    aggregate: document.aggregate,
    client: document.client,
    validationResults: JSON.parse(document.validationResultsJson),
    createdOn: document.createdOn,
  };
}
