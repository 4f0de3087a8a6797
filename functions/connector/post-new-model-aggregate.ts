import { z } from 'zod';
import { modelAggregateJson } from '../../lib/api/representation';
import { Id, OptionalParent, Run } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({
  model: Id,
  parent_agg: OptionalParent,
  /** A flat list of numbers or a list of layers; checked in full by the connector. */
  results: z.array(z.unknown(), { error: 'must be a list of numbers or a list of layers' }),
  run: Run.optional(),
});

/** `post_new_model_aggregate`: stores a new aggregate under `parent_agg` and returns it. */
export const handler = createHandler({ input }, async ({ model, parent_agg, results, run }) =>
  modelAggregateJson(await getConnector().postNewModelAggregate(model, parent_agg, results, { run })),
);
