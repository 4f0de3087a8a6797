import { createHash } from 'node:crypto';
import { assertTakesPlainUpdates } from '../../lib/secure-aggregation/strategy';
import { z } from 'zod';
import { invalidPk } from '../../lib/api/body-ids';
import { assertNamesCaller, drfBody } from '../../lib/api/drf-body';
import { assertJsonLimits } from '../../lib/api/json-limits';
import { assertMatchesSchema } from '../../lib/api/json-schema';
import { clientModelUpdateJson } from '../../lib/api/representation';
import { EntityIdSchema, type ModelUpdate } from '../../lib/entities';
import { appendCorrelationKeys, MetricName, MetricUnit, recordMetric } from '../../lib/observability';
import { getConnector } from '../../lib/connector';
import { IdempotencyKeySchema } from '../../lib/connector/mongo/idempotency';
import { ForbiddenError, ValidationError } from '../../lib/errors';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { headerValue } from '../../lib/http/events';
import { respond } from '../../lib/http/response';
import { WEIGHTS_LIMITS } from '../../lib/weights';
import { startRunForNewUpdate } from '../../lib/aggregation/start-run';
import { ClientModelUpdateJsonSchema } from '../../lib/api/response-schemas';

/** Other keys are ignored, except `client`, which must be the caller. */
export const body = drfBody({
  federated_model: EntityIdSchema,
  data: z.unknown(),
  base_aggregate: EntityIdSchema.nullable().default(null),
  /** How many examples the client trained on (weighted FedAvg). */
  num_examples: z.number().int().nonnegative().nullable().default(null),
}, ['client']);

const doc: RouteDoc = {
  summary: 'Send a model update (weights as JSON)',
  requestExample: { federated_model: 1, data: [0.12, -0.5, 1.75], base_aggregate: null, num_examples: 600 },
  headers: { 'Idempotency-Key': 'Makes a retry answer the update the first request created (1-255 visible ASCII characters)' },
  responses: { 201: { description: 'The update', body: ClientModelUpdateJsonSchema, headers: { 'Idempotent-Replayed': '`true` when this answers an earlier request with the same Idempotency-Key' } } },
  errors: { 409: 'The Idempotency-Key was used with another body, or its first request is still at work' },
};

/**
 * `POST /api/v1/model_updates/`: a client sends an update. The client is the caller, never the
 * body; `data` must match the model's `update_schema`; a client outside the model gets 403, a
 * `federated_model` or `base_aggregate` that names nothing 400 ("Invalid pk", as DRF) and a
 * `base_aggregate` of another model 400. A model that allows aggregation gets a run started.
 *
 * With an `Idempotency-Key` header, a retried request (same client, key and body) answers the
 * update the first one created, marked `Idempotent-Replayed: true`, instead of creating another;
 * the same key with another body, or while the first request is still at work, is a 409.
 */
export const handler = apiRoute(getConnector, { audience: 'client', body, doc, refusalMetric: MetricName.UpdatesRefused }, async ({ caller, body: input, event }) => {
  const idempotencyKey = headerValue(event, 'idempotency-key');
  if (idempotencyKey !== undefined) {
    const parsed = IdempotencyKeySchema.safeParse(idempotencyKey);
    if (!parsed.success) throw new ValidationError(`Idempotency-Key ${parsed.error.issues[0]!.message}`, { details: [{ field: 'Idempotency-Key', message: parsed.error.issues[0]!.message }] });
  }
  assertNamesCaller(input.client, caller, 'client');
  // Weights are at most 1 + WEIGHTS_LIMITS.maxDimensions deep; the parser checks the rest.
  assertJsonLimits(input.data, 'data', { maxDepth: 1 + WEIGHTS_LIMITS.maxDimensions, maxBytes: null });
  const connector = getConnector();
  // The model and the membership as the container knows them (kept for MEMBERSHIP_CACHE_MS): the
  // usual submission reads only the caller's credential and writes only its update.
  const { model, isMember } = await connector.pullModelForClient(input.federated_model, caller.id);
  if (model === null) throw invalidPk('federated_model', input.federated_model);
  if (!isMember) throw new ForbiddenError('This client is not registered with this model.');
  assertTakesPlainUpdates(model);
  assertMatchesSchema(model.updateSchema, input.data, 'data');
  if (input.base_aggregate !== null && (await connector.pullModelOfAggregate(input.base_aggregate)) === null) {
    throw invalidPk('base_aggregate', input.base_aggregate);
  }
  const newUpdate = {
    federatedModel: model.id,
    client: caller.id,
    data: input.data,
    baseAggregate: input.base_aggregate,
    numExamples: input.num_examples,
  };
  if (idempotencyKey !== undefined) {
    const { update, replayed } = await connector.createModelUpdateIdempotently(newUpdate, idempotencyKey, requestHash(event.body, model.id));
    if (!replayed) {
      accepted(update, event.body);
      await startRunForNewUpdate(connector, update, model);
    }
    return respond(201, { ...clientModelUpdateJson(update), data: input.data }, replayed ? { 'Idempotent-Replayed': 'true' } : undefined);
  }
  const update = await connector.createModelUpdate(newUpdate);
  accepted(update, event.body);
  await startRunForNewUpdate(connector, update, model);
  // The connector accepted `data` only as finite numbers in rectangular lists, which are stored
  // exactly; echo it rather than read the weights back.
  return respond(201, { ...clientModelUpdateJson(update), data: input.data });
});

/** Counts an accepted update and the bytes of its body; names it on the invocation's log lines. */
function accepted(update: ModelUpdate, body: string | undefined | null): void {
  appendCorrelationKeys({ model: update.federatedModel, update: update.id });
  recordMetric(MetricName.UpdatesAccepted);
  recordMetric(MetricName.BytesUploaded, Buffer.byteLength(body ?? ''), MetricUnit.Bytes);
}

/** What makes two requests "the same" for an Idempotency-Key: the body as sent, for one model. */
function requestHash(body: string | undefined | null, model: number): string {
  return createHash('sha256').update(`${model}\n${body ?? ''}`).digest('hex');
}
