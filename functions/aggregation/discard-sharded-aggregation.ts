import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { discardShardedRun } from '../../lib/aggregation/sharded-aggregation';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run });

/**
 * When a sharded run fails (a shard failed past its retries, or the completion did): aborts its
 * multipart uploads, so no partial aggregate ever becomes an object. FailRun then settles the
 * updates as after a failed single task.
 */
export const handler = createHandler({ input }, async ({ model, run }) => discardShardedRun(getConnector(), { model, run }));
