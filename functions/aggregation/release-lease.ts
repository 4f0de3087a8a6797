import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id, run: Run });

/** Releases the run's lease on the model (last state of every path that took it). */
export const handler = createHandler({ input }, async ({ model, run }) =>
  getConnector().releaseAggregationLease(model, run),
);
