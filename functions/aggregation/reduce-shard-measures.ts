import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { reduceShardMeasures } from '../../lib/aggregation/sharded-aggregation';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run });

/**
 * Between the two Maps of a two-pass strategy: merges the shards' partial sums and stores what
 * the second Map applies (clip factors and the noise's σ, or Krum's selection). Answers counts only.
 */
export const handler = createHandler({ input }, async ({ model, run }) => {
  const { clippedUpdates, selected } = await reduceShardMeasures(getConnector(), { model, run, leaseSeconds: getConfig().AGGREGATION_LEASE_SECONDS });
  return { clipped_updates: clippedUpdates, selected };
});
