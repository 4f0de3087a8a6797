import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { aggregateShard } from '../../lib/aggregation/sharded-aggregation';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run, shard: z.number().int().nonnegative().max(9_999) });

/**
 * One shard of a sharded run (an item of the Map): reads its coordinate range of every claimed
 * update with ranged GETs, applies the model's strategy to it and uploads it as its part of the
 * aggregate's multipart upload. Renews the run's lease while it works.
 */
export const handler = createHandler({ input }, async ({ model, run, shard }) =>
  aggregateShard(getConnector(), { model, run, shard, leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS }),
);
