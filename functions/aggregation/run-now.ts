import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { Id } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { NotFoundError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';
import { executionName, startAggregationRun } from '../../lib/aggregation/start-run';

export const input = z.strictObject({ model: Id });

/**
 * `POST /aggregation/run` `{"model": <id>}`: starts a run of the model now (operators; and under
 * `npm start`, the way to aggregate without waiting for a schedule) and answers at once with the
 * run's name; `GET /aggregation/runs/{name}` tells how it ended.
 */
export const handler = createHandler({ input }, async ({ model }) => {
  if ((await getConnector().pullFederatedModelWId(model)) === null) {
    throw new NotFoundError(`Federated model ${model} does not exist`);
  }
  const started = await startAggregationRun(model, executionName(model, `manual-${randomUUID()}`));
  // At once, as StartExecution answers: the run goes on; its name tells where to ask how it ended.
  return { ...started, status_url: `/aggregation/runs/${started.run}` };
});
