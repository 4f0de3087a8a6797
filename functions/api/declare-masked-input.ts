import { z } from 'zod';
import { drfBody } from '../../lib/api/drf-body';
import { RoundNumber } from '../../lib/api/secure-round-representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

export const body = drfBody({
  round: RoundNumber,
  /** Hex SHA-256 of the bytes the client will PUT. */
  sha256: z.string(),
});

const MaskedInputUploadJsonSchema = z
  .object({
    upload: z.string().meta({ description: 'Opaque: give it back to complete' }),
    method: z.literal('PUT'),
    url: z.string(),
    headers: z.record(z.string(), z.string()),
    byte_size: z.number().int(),
    url_expires_at: z.string(),
    complete: z.string(),
  })
  .meta({ id: 'MaskedInputUpload' });

const doc: RouteDoc = {
  summary: 'Secure round, stage 3: where to PUT this client\'s masked input (4 × (length + 1) bytes)',
  responses: { 201: { description: 'Where to upload, and where to complete', body: MaskedInputUploadJsonSchema } },
  errors: { 409: 'The round is not taking masked inputs (too late, or a replay)' },
};

/** `POST /api/v1/models/{id}/secure_round/masked_input/`: through a presigned URL, as binary updates are. */
export const handler = apiRoute(getConnector, { audience: 'client', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const upload = await getConnector().declareMaskedInput(id, caller.id, input.round, input.sha256);
  return respond(201, {
    upload: upload.upload,
    method: 'PUT',
    url: upload.url,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(upload.byteSize) },
    byte_size: upload.byteSize,
    url_expires_at: upload.urlExpiresAt.toISOString(),
    complete: `/api/v1/models/${id}/secure_round/masked_input/complete/`,
  });
});
