import { z } from 'zod';
import type { OperatorOperation } from '../../lib/api/openapi-document';
import { FederatedModelJsonSchema, ModelAggregateJsonSchema, ModelUpdateJsonSchema } from '../../lib/api/response-schemas';
import { EntityIdSchema, RunIdSchema } from '../../lib/entities';
import { input as describeRun } from '../../functions/aggregation/describe-run';
import { input as runNow } from '../../functions/aggregation/run-now';
import { input as postNewModelAggregate } from '../../functions/connector/post-new-model-aggregate';
import { input as pullFederatedModelWId } from '../../functions/connector/pull-federated-model-w-id';
import { input as pullLatestModelAggregate } from '../../functions/connector/pull-latest-model-aggregate';
import { input as pullModelRequirements } from '../../functions/connector/pull-model-requirements';
import { input as pullModelUpdatesPendingAggregation } from '../../functions/connector/pull-model-updates-pending-aggregation';
import { input as pullModelUpdatesReadyForAggregation } from '../../functions/connector/pull-model-updates-ready-for-aggregation';
import { input as pullModelUpdatesRegisteredForAggregation } from '../../functions/connector/pull-model-updates-registered-for-aggregation';
import { input as registerModelUpdateUsedInAggregate } from '../../functions/connector/register-model-update-used-in-aggregate';
import { input as registerModelUpdatesForAggregation } from '../../functions/connector/register-model-updates-for-aggregation';
import { input as registerModelUpdatesUseInAggregationComplete } from '../../functions/connector/register-model-updates-use-in-aggregation-complete';
import { input as updateDatabase } from '../../functions/connector/update-database';

/**
 * The operator routes serverless.yml declares (`POST /connector/<operation>`, `/aggregation/*`),
 * with the input schema each function validates with. A test checks that this list and
 * serverless.yml's routes are the same.
 */
const connector = (
  operation: string,
  input: z.ZodType,
  summary: string,
  result: z.ZodType,
  errors: Record<number, string> = { 404: 'A model, aggregate or update it names does not exist' },
): OperatorOperation => ({ method: 'POST', path: `/connector/${operation}`, summary, input, inputIn: 'body', result, errors });

const UpdatedCounts = z.object({ updated: z.array(EntityIdSchema), not_updated: z.array(EntityIdSchema) });

export const OPERATOR_OPERATIONS: readonly OperatorOperation[] = [
  connector('pull_federated_model_w_id', pullFederatedModelWId, 'A model by id', FederatedModelJsonSchema),
  connector('pull_latest_model_aggregate', pullLatestModelAggregate, "A model's newest aggregate (or its id), or null", z.union([ModelAggregateJsonSchema, EntityIdSchema, z.null()])),
  connector('pull_model_updates_ready_for_aggregation', pullModelUpdatesReadyForAggregation, 'Pending updates within the base-aggregate window (or their ids)', z.union([z.array(ModelUpdateJsonSchema), z.array(EntityIdSchema)])),
  connector('pull_model_requirements', pullModelRequirements, "A model's requirement and its arguments, as `[requirement, args]`", z.array(z.unknown()).meta({ description: '`[requirement or null, requirement_args]`' })),
  connector('register_model_updates_for_aggregation', registerModelUpdatesForAggregation, 'Claim updates for a run (one guarded write)', z.object({ run: RunIdSchema, claimed: z.array(EntityIdSchema), not_claimed: z.array(EntityIdSchema) })),
  connector('pull_model_updates_registered_for_aggregation', pullModelUpdatesRegisteredForAggregation, "A model's RUNNING updates (of one run, if given)", z.array(ModelUpdateJsonSchema)),
  connector('post_new_model_aggregate', postNewModelAggregate, 'Store a new aggregate', ModelAggregateJsonSchema, {
    404: 'The model or parent aggregate does not exist',
    409: 'The parent is not the newest aggregate, or the results do not fit the model',
  }),
  connector('pull_model_updates_pending_aggregation', pullModelUpdatesPendingAggregation, "PENDING and FAILED updates of a model's clients", z.array(ModelUpdateJsonSchema)),
  connector('register_model_update_used_in_aggregate', registerModelUpdateUsedInAggregate, 'Record the aggregate on RUNNING updates', UpdatedCounts),
  connector('register_model_updates_use_in_aggregation_complete', registerModelUpdatesUseInAggregationComplete, 'RUNNING updates to COMPLETE, or to FAILED', UpdatedCounts),
  connector('update_database', updateDatabase, 'Create collections and indexes, and migrate (safe to repeat)', z.unknown(), {}),
  {
    method: 'POST',
    path: '/aggregation/run',
    summary: "Start a run of a model's aggregation now",
    description: 'Answers at once, as StartExecution does; `status_url` tells how the run ends.',
    input: runNow,
    inputIn: 'body',
    result: z.object({ model: EntityIdSchema, run: RunIdSchema, started: z.boolean(), status_url: z.string(), executionArn: z.string().optional() }),
    errors: { 404: 'No model has that id' },
  },
  {
    method: 'GET',
    path: '/aggregation/runs/{name}',
    summary: 'How a run is going or ended',
    input: describeRun,
    inputIn: 'path',
    result: z.object({
      name: RunIdSchema,
      model: EntityIdSchema.nullable(),
      status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED']),
      final_state: z.string().nullable(),
      error: z.string().nullable(),
      started_at: z.string().nullable(),
      stopped_at: z.string().nullable(),
      states_entered: z.number().int().nullable().optional(),
      lambda_invocations: z.number().int().nullable().optional(),
    }),
    errors: { 404: 'No run has that name' },
  },
];
