import { z } from 'zod';
import { clientModelUpdateJson } from '../../lib/api/representation';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { ConflictError } from '../../lib/errors';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { startRunForNewUpdate } from '../../lib/aggregation/start-run';
import { ClientModelUpdateJsonSchema, UploadVerifyingJsonSchema } from '../../lib/api/response-schemas';
import { recordUploadAccepted } from '../../lib/uploads/record-upload-accepted';
import { startUploadVerification } from '../../lib/uploads/start-upload-verification';
import { appendCorrelationKeys, MetricName } from '../../lib/observability';

export const params = z.object({ upload: z.string() });

const doc: RouteDoc = {
  summary: 'Complete a binary upload: the bytes are checked and the update is created',
  responses: {
    200: { description: 'Completed before: the update it created', body: ClientModelUpdateJsonSchema },
    201: { description: 'The update', body: ClientModelUpdateJsonSchema },
    202: {
      description: 'A large upload (over UPLOAD_VERIFY_INLINE_MB) is being checked: POST again after Retry-After for the outcome',
      body: UploadVerifyingJsonSchema,
      headers: { 'Retry-After': 'Seconds until the check is likely done' },
    },
  },
  errors: { 409: 'Another request is completing this upload right now' },
};

/**
 * What the verification function copies and checks per second, for Retry-After: 141 MiB/s under
 * npm start (bench/large-upload.ts), about 50-100 MB/s on AWS (README: Large uploads). Asking
 * again early costs one small request.
 */
const VERIFIED_BYTES_PER_SECOND = 100 * 1024 ** 2;

/**
 * `POST /api/v1/model_updates/uploads/{upload}/complete/`: the client says its bytes are up. They
 * are checked (size, SHA-256, every value finite) in one streamed pass; only then is the update
 * created, PENDING (201). Bytes that fail are deleted and the upload is refused (400). Completing
 * again answers the same update (200).
 *
 * An upload larger than UPLOAD_VERIFY_INLINE_MB would not be checked within this function's
 * timeout: it is handed to the verification function, and this answers 202 with `Retry-After`;
 * the client POSTs again until it gets the update (200) or the refusal (400/403).
 */
export const handler = apiRoute(getConnector, { audience: 'client', params, doc, refusalMetric: MetricName.UpdatesRefused }, async ({ caller, params: { upload } }) => {
  appendCorrelationKeys({ upload });
  const connector = getConnector();
  const config = getConfig();
  const inlineMaxBytes = config.UPLOAD_VERIFIER_FUNCTION === undefined ? Number.POSITIVE_INFINITY : config.UPLOAD_VERIFY_INLINE_MB * 1024 ** 2;
  const claim = await connector.claimModelUpdateUploadCompletion(upload, caller.id, inlineMaxBytes);
  if (claim.state === 'complete') return respond(200, clientModelUpdateJson(claim.update));
  if (claim.inline) {
    if (claim.state === 'verifying') throw new ConflictError(`Upload ${upload} is being completed by another request; try again shortly`);
    const { update, created } = await connector.verifyModelUpdateUpload(upload);
    if (created) {
      recordUploadAccepted(update);
      await startRunForNewUpdate(connector, update);
    }
    return respond(created ? 201 : 200, clientModelUpdateJson(update));
  }
  if (claim.state === 'claimed') await startUploadVerification(upload);
  const retryAfter = Math.min(30, Math.max(1, Math.ceil(claim.byteSize / VERIFIED_BYTES_PER_SECOND)));
  return respond(
    202,
    { id: upload, status: 'verifying', byte_size: claim.byteSize, complete: `/api/v1/model_updates/uploads/${upload}/complete/` },
    { 'Retry-After': String(retryAfter) },
  );
});
