import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { completeShardedRun } from '../../lib/aggregation/sharded-aggregation';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run });

/**
 * After every shard: completes the multipart upload into the aggregate object and records the
 * aggregate for the run (the same answer as the single task's, for CompleteRun to use).
 */
export const handler = createHandler({ input }, async ({ model, run }) => {
  const { aggregate, modelUpdates } = await completeShardedRun(getConnector(), { model, run, leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS });
  return { id: aggregate.id, parent: aggregate.parent, level: aggregate.level, model_updates: modelUpdates };
});
