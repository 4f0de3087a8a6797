import { z } from 'zod';
import { assertNamesCaller, drfBody } from '../../lib/api/drf-body';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { EntityIdSchema } from '../../lib/entities';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { MetricName } from '../../lib/observability';
import { WEIGHTS_DTYPES } from '../../lib/weights';
import { UploadDeclaredJsonSchema } from '../../lib/api/response-schemas';

/** Other keys are ignored, except `client`, which must be the caller (as for JSON updates). */
export const body = drfBody({
  federated_model: EntityIdSchema,
  base_aggregate: EntityIdSchema.nullable().default(null),
  num_examples: z.number().int().nonnegative().nullable().default(null),
  /** Little-endian IEEE 754 values (float32, float64), or an encoding of issue #26 (float16, bfloat16, int8 in blocks of 64 with float32 scales). */
  dtype: z.enum(WEIGHTS_DTYPES),
  /** Each layer's shape, e.g. `[[784, 128], [128]]`; `[[n]]` is a flat vector of n values. */
  shapes: z.array(z.array(z.number().int().positive())),
  layout: z.enum(['vector', 'layers']).optional(),
  /** Hex SHA-256 of the bytes the client will PUT. */
  sha256: z.string(),
}, ['client']);

const doc: RouteDoc = {
  summary: 'Declare a binary model update and get a URL to PUT its bytes to',
  requestExample: { federated_model: 1, dtype: 'float32', shapes: [[3]], sha256: 'f4b1a7c1e2f55e2dcdb4d6c68e4e2cbb1d3d8b9c3b0f1c4f4a2e66b1c8a7d9e0' },
  responses: { 201: { description: 'Where to upload, and where to complete', body: UploadDeclaredJsonSchema } },
  errors: { 429: 'This client has too many uploads open on the model (UPLOAD_MAX_OPEN_PER_CLIENT, UPLOAD_MAX_OPEN_MB_PER_CLIENT); Retry-After says when the oldest expires' } };

/**
 * `POST /api/v1/model_updates/uploads/`: a client declares a binary update (dtype, shapes,
 * SHA-256) and gets a presigned URL to PUT its bytes to, straight into the object store, past
 * Lambda's 6 MB payload limit. The update exists only once the upload is completed.
 */
export const handler = apiRoute(getConnector, { audience: 'client', body, doc, refusalMetric: MetricName.UpdatesRefused }, async ({ caller, body: input }) => {
  assertNamesCaller(input.client, caller, 'client');
  const config = getConfig();
  const upload = await getConnector().createModelUpdateUpload({
    federatedModel: input.federated_model,
    client: caller.id,
    baseAggregate: input.base_aggregate,
    numExamples: input.num_examples,
    dtype: input.dtype,
    shapes: input.shapes,
    ...(input.layout === undefined ? {} : { layout: input.layout }),
    sha256: input.sha256,
  }, { maxOpen: config.UPLOAD_MAX_OPEN_PER_CLIENT, maxOpenBytes: config.UPLOAD_MAX_OPEN_MB_PER_CLIENT * 1024 ** 2 });
  return respond(201, {
    id: upload.id,
    federated_model: upload.federatedModel,
    method: 'PUT',
    url: upload.url,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(upload.declared.byteSize) },
    url_expires_at: upload.urlExpiresAt.toISOString(),
    expires_at: upload.expiresAt.toISOString(),
    byte_size: upload.declared.byteSize,
    complete: `/api/v1/model_updates/uploads/${upload.id}/complete/`,
  });
});
