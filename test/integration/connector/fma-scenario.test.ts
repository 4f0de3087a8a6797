import { createHash } from 'node:crypto';
import { getObjectStore } from '../../../lib/store';
import { MongoMetadataConnector } from '../../../lib/connector';
import { UpdateStatus } from '../../../lib/entities';
import { ForbiddenError, NotFoundError, ValidationError } from '../../../lib/errors';
import { buildScenario, type Scenario } from '../../fixtures/scenario';
import { useTestDatabase } from '../../helpers/database';

const ids = (updates: { id: number }[]) => updates.map((update) => update.id);

describe('the MongoDB metadata connector on FMA\'s fixture scenario', () => {
  const database = useTestDatabase();
  let connector: MongoMetadataConnector;
  let s: Scenario;

  beforeEach(async () => {
    await database.db.dropDatabase();
    connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    s = await buildScenario(connector, database.db);
  });

  describe('pull_federated_model_w_id', () => {
    it('returns the model with every field', async () => {
      const model = await connector.pullFederatedModelWId(s.models.allClients.id);
      expect(model).toEqual({
        id: s.models.allClients.id,
        name: 'all clients',
        developer: 'dev-2',
        aggregator: 'average_layers',
        aggregatorParams: null,
        requirement: 'all_clients',
        requirementArgs: [],
        updateSchema: null,
        clientAggResultsSchema: null,
        furthestBaseAgg: null,
        allowAggregation: false,
        secureAggregation: null,
        currentArtifact: null,
        // the shape of its first update, [[1], [2, 3]]: what later updates are checked against
        weightsShape: { layout: 'layers', shapes: [[1], [2]], length: 3 },
        createdOn: expect.any(Date),
        lastModified: expect.any(Date),
      });
      // Its members are kept apart from it.
      expect(await connector.pullModelClients(model!)).toEqual([s.clients.c1]);
    });

    it('returns null for an id no model has', async () => {
      expect(await connector.pullFederatedModelWId(999)).toBeNull();
    });

    it('rejects a non-integer id with a ValidationError', async () => {
      await expect(connector.pullFederatedModelWId(1.5)).rejects.toThrow(ValidationError);
      await expect(connector.pullFederatedModelWId(-1)).rejects.toThrow(/fed_model_id/);
    });
  });

  describe('pull_latest_model_aggregate', () => {
    it('returns the newest aggregate of the model', async () => {
      const latest = await connector.pullLatestModelAggregate(s.models.requireThree);
      expect(latest).toEqual({
        id: s.aggregates.agg2.id,
        federatedModel: s.models.requireThree.id,
        parent: s.aggregates.agg1.id,
        level: 1,
        validationScore: null,
        run: null,
        weights: {
          key: expect.stringMatching(/^aggregates\/\d+\//),
          dtype: 'float64',
          layout: 'vector',
          shapes: [[3]],
          length: 3,
          byteSize: 24,
          sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        },
        createdOn: expect.any(Date),
      });
    });

    it('returns null for a model without aggregates', async () => {
      expect(await connector.pullLatestModelAggregate(s.models.noClients.id)).toBeNull();
    });

    it('throws NotFoundError for a model that does not exist', async () => {
      await expect(connector.pullLatestModelAggregate(999)).rejects.toThrow(NotFoundError);
    });
  });

  describe('pull_model_updates_pending_aggregation', () => {
    it('returns PENDING and FAILED updates of the model\'s clients only', async () => {
      const pending = await connector.pullModelUpdatesPendingAggregation(s.models.requireThree);
      // u2 failed and is pending again; u6's client left the model; u3 runs, u4 is done, u7 invalid.
      expect(ids(pending)).toEqual([s.updates.u1, s.updates.u2, s.updates.u5]);
      expect(pending.map((update) => update.status)).toEqual([
        UpdateStatus.PENDING,
        UpdateStatus.FAILED,
        UpdateStatus.PENDING,
      ]);
    });

    it('returns nothing for a model without clients', async () => {
      expect(await connector.pullModelUpdatesPendingAggregation(s.models.noClients)).toEqual([]);
    });

    it('returns the other model\'s update for it', async () => {
      expect(ids(await connector.pullModelUpdatesPendingAggregation(s.models.allClients))).toEqual([s.updates.u8]);
    });
  });

  describe('pull_model_updates_ready_for_aggregation', () => {
    it('keeps updates based on the parent itself or its nearest ancestors (furthestBaseAgg 2)', async () => {
      const ready = await connector.pullModelUpdatesReadyForAggregation(s.models.requireThree, s.aggregates.agg2);
      // window = [agg2, agg1]; u5 has no base aggregate, so it is outside any window
      expect(ids(ready)).toEqual([s.updates.u1, s.updates.u2]);
    });

    it('includes the parent itself when the window is 1 (FMA left it out)', async () => {
      await database.db
        .collection('federated_models')
        .updateOne({ _id: s.models.requireThree.id as never }, { $set: { furthestBaseAgg: 1 } });
      const ready = await connector.pullModelUpdatesReadyForAggregation(s.models.requireThree, s.aggregates.agg2);
      expect(ids(ready)).toEqual([s.updates.u1]);
    });

    it('stops the window at the root', async () => {
      const ready = await connector.pullModelUpdatesReadyForAggregation(s.models.requireThree, s.aggregates.agg1);
      expect(ids(ready)).toEqual([s.updates.u2]);
    });

    it('is the pending set when there is no parent', async () => {
      const ready = await connector.pullModelUpdatesReadyForAggregation(s.models.requireThree, null);
      expect(ids(ready)).toEqual([s.updates.u1, s.updates.u2, s.updates.u5]);
    });

    it('rejects a parent aggregate of another model', async () => {
      await expect(
        connector.pullModelUpdatesReadyForAggregation(s.models.allClients, s.aggregates.agg2),
      ).rejects.toThrow(ValidationError);
    });
  });

  describe('pull_model_requirements', () => {
    it('returns the requirement and its arguments', async () => {
      expect(await connector.pullModelRequirements(s.models.requireThree)).toEqual(['require_x_updates', [3]]);
      expect(await connector.pullModelRequirements(s.models.allClients)).toEqual(['all_clients', []]);
      expect(await connector.pullModelRequirements(s.models.noClients)).toEqual([null, []]);
    });
  });

  describe('register_model_updates_for_aggregation', () => {
    it('moves PENDING and FAILED updates to RUNNING, stamped with the run', async () => {
      const result = await connector.registerModelUpdatesForAggregation([s.updates.u1, s.updates.u2], { run: 'run-a' });
      expect(result).toEqual({ run: 'run-a', claimed: [s.updates.u1, s.updates.u2], notClaimed: [] });
      const [u1, u2] = await connector.pullModelUpdates([s.updates.u1, s.updates.u2]);
      for (const update of [u1!, u2!]) {
        expect(update).toMatchObject({ status: UpdateStatus.RUNNING, claimedBy: 'run-a', claimedAt: expect.any(Date) });
        expect(update.statusHistory.at(-1)).toMatchObject({ status: UpdateStatus.RUNNING, run: 'run-a' });
      }
      expect(u2!.statusHistory.map((change) => change.status)).toEqual([
        UpdateStatus.PENDING,
        UpdateStatus.RUNNING,
        UpdateStatus.FAILED,
        UpdateStatus.RUNNING,
      ]);
    });

    it('does not take updates another run holds, or finished ones', async () => {
      const result = await connector.registerModelUpdatesForAggregation(
        [s.updates.u1, s.updates.u3, s.updates.u4, s.updates.u7],
        { run: 'run-b' },
      );
      expect(result.claimed).toEqual([s.updates.u1]);
      expect(result.notClaimed).toEqual([s.updates.u3, s.updates.u4, s.updates.u7]);
      const [u3] = await connector.pullModelUpdates([s.updates.u3]);
      expect(u3!.claimedBy).toBe('run-old');
    });

    it('is idempotent: the same run registering again holds the same updates', async () => {
      const first = await connector.registerModelUpdatesForAggregation([s.updates.u1, s.updates.u5], { run: 'run-c' });
      const again = await connector.registerModelUpdatesForAggregation([s.updates.u1, s.updates.u5], { run: 'run-c' });
      expect(again).toEqual(first);
      const [u1] = await connector.pullModelUpdates([s.updates.u1]);
      expect(u1!.statusHistory.filter((change) => change.status === UpdateStatus.RUNNING)).toHaveLength(1);
    });

    it('generates a run id when none is given', async () => {
      const result = await connector.registerModelUpdatesForAggregation([s.updates.u5]);
      expect(result.run).toMatch(/^[0-9a-f-]{36}$/);
      expect(result.claimed).toEqual([s.updates.u5]);
    });

    it('rejects updates of two models, or of another model than named, and changes nothing', async () => {
      await expect(connector.registerModelUpdatesForAggregation([s.updates.u1, s.updates.u8])).rejects.toThrow(
        ValidationError,
      );
      await expect(
        connector.registerModelUpdatesForAggregation([s.updates.u1], { model: s.models.allClients }),
      ).rejects.toThrow(/do not belong to federated model/);
      expect(ids(await connector.pullModelUpdatesRegisteredForAggregation(s.models.requireThree))).toEqual([s.updates.u3]);
      expect(ids(await connector.pullModelUpdatesRegisteredForAggregation(s.models.allClients))).toEqual([]);
    });

    it('rejects unknown ids with NotFoundError and changes nothing', async () => {
      await expect(connector.registerModelUpdatesForAggregation([s.updates.u1, 9999])).rejects.toThrow(NotFoundError);
      const [u1] = await connector.pullModelUpdates([s.updates.u1]);
      expect(u1!.status).toBe(UpdateStatus.PENDING);
    });

    it('rejects a malformed run id', async () => {
      await expect(
        connector.registerModelUpdatesForAggregation([s.updates.u1], { run: 'no spaces allowed' }),
      ).rejects.toThrow(ValidationError);
    });
  });

  describe('pull_model_updates_registered_for_aggregation', () => {
    it('returns the model\'s RUNNING updates, or only one run\'s', async () => {
      await connector.registerModelUpdatesForAggregation([s.updates.u1], { run: 'run-d' });
      expect(ids(await connector.pullModelUpdatesRegisteredForAggregation(s.models.requireThree))).toEqual([
        s.updates.u1,
        s.updates.u3,
      ]);
      expect(
        ids(await connector.pullModelUpdatesRegisteredForAggregation(s.models.requireThree, { run: 'run-d' })),
      ).toEqual([s.updates.u1]);
      expect(
        ids(await connector.pullModelUpdatesRegisteredForAggregation(s.models.requireThree, { run: 'run-old' })),
      ).toEqual([s.updates.u3]);
    });
  });

  describe('post_new_model_aggregate', () => {
    it('stores a child of the parent one level down, with its results', async () => {
      const aggregate = await connector.postNewModelAggregate(s.models.requireThree, s.aggregates.agg2, [3, 2, 3.5], {
        run: 'run-e',
      });
      expect(aggregate).toMatchObject({ federatedModel: s.models.requireThree.id, parent: s.aggregates.agg2.id, level: 2, run: 'run-e' });
      expect(await connector.pullModelAggregateResults(aggregate)).toEqual([3, 2, 3.5]);
      expect((await connector.pullLatestModelAggregate(s.models.requireThree))!.id).toBe(aggregate.id);
    });

    it('stores a root at level 0 and accepts a list of layers', async () => {
      const aggregate = await connector.postNewModelAggregate(s.models.allClients, null, [[2.5], [1.5, 3.5, 4.5], [1.5]]);
      expect(aggregate).toMatchObject({ parent: null, level: 0 });
      expect(await connector.pullModelAggregateResults(aggregate.id)).toEqual([[2.5], [1.5, 3.5, 4.5], [1.5]]);
    });

    it('stores results as float64 bytes in the object store, and only a reference in the document', async () => {
      const aggregate = await connector.postNewModelAggregate(s.models.allClients, null, [0.1, 0.2]);
      const stored = await database.db.collection('model_aggregates').findOne({ _id: aggregate.id as never });
      expect(stored!.weights).toEqual({
        storage: 'object-store',
        key: aggregate.weights.key,
        dtype: 'float64',
        layout: 'vector',
        shapes: [{ dims: [2] }],
        length: 2,
        byteSize: 16,
        sha256: aggregate.weights.sha256,
      });
      expect(JSON.stringify(stored)).not.toContain('0.1');
      const bytes = new Uint8Array(32);
      expect(await getObjectStore().readInto(aggregate.weights.key, bytes)).toBe(16);
      expect(Array.from(new Float64Array(bytes.buffer, 0, 2))).toEqual([0.1, 0.2]);
      expect(createHash('sha256').update(bytes.subarray(0, 16)).digest('hex')).toBe(aggregate.weights.sha256);
    });

    it('rejects malformed results and a parent of another model, writing nothing', async () => {
      const before = await database.db.collection('model_aggregates').countDocuments();
      await expect(connector.postNewModelAggregate(s.models.allClients, null, [1, 'two'])).rejects.toThrow(ValidationError);
      await expect(connector.postNewModelAggregate(s.models.allClients, null, [])).rejects.toThrow(ValidationError);
      await expect(connector.postNewModelAggregate(s.models.allClients, null, [[1, 2], [3, [4]]])).rejects.toThrow(
        ValidationError,
      );
      await expect(connector.postNewModelAggregate(s.models.allClients, s.aggregates.agg1, [1])).rejects.toThrow(
        ValidationError,
      );
      await expect(connector.postNewModelAggregate(s.models.allClients, 9999, [1])).rejects.toThrow(NotFoundError);
      expect(await database.db.collection('model_aggregates').countDocuments()).toBe(before);
    });
  });

  describe('register_model_update_used_in_aggregate', () => {
    it('records the aggregate on RUNNING updates and leaves them RUNNING', async () => {
      await connector.registerModelUpdatesForAggregation([s.updates.u1, s.updates.u2], { run: 'run-f' });
      const aggregate = await connector.postNewModelAggregate(s.models.requireThree, s.aggregates.agg2, [1, 1, 1]);
      const result = await connector.registerModelUpdateUsedInAggregate([s.updates.u1, s.updates.u2, s.updates.u5], aggregate, {
        run: 'run-f',
      });
      expect(result).toEqual({ updated: [s.updates.u1, s.updates.u2], notUpdated: [s.updates.u5] });
      const updates = await connector.pullModelUpdates([s.updates.u1, s.updates.u2, s.updates.u5]);
      expect(updates.map((update) => [update.status, update.appliedAggregate])).toEqual([
        [UpdateStatus.RUNNING, aggregate.id],
        [UpdateStatus.RUNNING, aggregate.id],
        [UpdateStatus.PENDING, null],
      ]);
    });

    it('rejects an aggregate of another model than the updates\'', async () => {
      const other = await connector.postNewModelAggregate(s.models.allClients, null, [1]);
      await expect(connector.registerModelUpdateUsedInAggregate([s.updates.u3], other)).rejects.toThrow(ValidationError);
      const [u3] = await connector.pullModelUpdates([s.updates.u3]);
      expect(u3!.appliedAggregate).toBeNull();
    });
  });

  describe('register_model_updates_use_in_aggregation_complete', () => {
    it('moves RUNNING updates to COMPLETE when successful', async () => {
      const result = await connector.registerModelUpdatesUseInAggregationComplete([s.updates.u3, s.updates.u1], true);
      expect(result).toEqual({ updated: [s.updates.u3], notUpdated: [s.updates.u1] });
      const [u3] = await connector.pullModelUpdates([s.updates.u3]);
      expect(u3!.status).toBe(UpdateStatus.COMPLETE);
    });

    it('moves RUNNING updates to FAILED when not, and they are pending again', async () => {
      await connector.registerModelUpdatesUseInAggregationComplete([s.updates.u3], false, { reason: 'aggregator threw' });
      const [u3] = await connector.pullModelUpdates([s.updates.u3]);
      expect(u3).toMatchObject({ status: UpdateStatus.FAILED, statusReason: 'aggregator threw' });
      expect(ids(await connector.pullModelUpdatesPendingAggregation(s.models.requireThree))).toContain(s.updates.u3);
    });

    it('with a run, touches only the updates that run holds', async () => {
      const result = await connector.registerModelUpdatesUseInAggregationComplete([s.updates.u3], true, { run: 'run-other' });
      expect(result).toEqual({ updated: [], notUpdated: [s.updates.u3] });
      const [u3] = await connector.pullModelUpdates([s.updates.u3]);
      expect(u3!.status).toBe(UpdateStatus.RUNNING);
    });

    it('rejects a non-boolean is_successful', async () => {
      await expect(
        connector.registerModelUpdatesUseInAggregationComplete([s.updates.u3], 'yes' as unknown as boolean),
      ).rejects.toThrow(/is_successful/);
    });
  });

  describe('model updates (beyond the seed)', () => {
    it('refuses an update from a client outside the model (FMA stored and ignored it)', async () => {
      await expect(
        connector.createModelUpdate({ federatedModel: s.models.allClients.id, client: s.clients.c2, data: [1] }),
      ).rejects.toThrow(ForbiddenError);
    });

    it('refuses a base aggregate of another model', async () => {
      await expect(
        connector.createModelUpdate({
          federatedModel: s.models.allClients.id,
          client: s.clients.c1,
          data: [1],
          baseAggregate: s.aggregates.agg1.id,
        }),
      ).rejects.toThrow(/base_aggregate/);
    });

    it('refuses NaN and Infinity in weights', async () => {
      for (const data of [[1, Number.NaN], [Number.POSITIVE_INFINITY]]) {
        await expect(
          connector.createModelUpdate({ federatedModel: s.models.allClients.id, client: s.clients.c1, data }),
        ).rejects.toThrow(/finite/);
      }
    });
  });
});
