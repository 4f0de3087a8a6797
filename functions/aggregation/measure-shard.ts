import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { measureShard } from '../../lib/aggregation/sharded-aggregation';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, shard: z.number().int().nonnegative().max(9_999) });

/**
 * First Map of a two-pass strategy (clipping, Krum), one shard: the exact partial sums over its
 * range (norms per update, or distances per pair), stored beside the manifest for the reduce step.
 */
export const handler = createHandler({ input }, async ({ model, run, shard }) =>
  measureShard(getConnector(), { model, run, shard, leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS }),
);
