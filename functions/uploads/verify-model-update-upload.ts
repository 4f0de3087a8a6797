import { z } from 'zod';
import { startRunForNewUpdate } from '../../lib/aggregation/start-run';
import { getConnector } from '../../lib/connector';
import { ForbiddenError, ValidationError } from '../../lib/errors';
import { createHandler } from '../../lib/http/handler';
import { appendCorrelationKeys, MetricName, recordMetricBy } from '../../lib/observability';
import { recordUploadAccepted } from '../../lib/uploads/record-upload-accepted';

export const input = z.strictObject({ upload: z.uuid() });

/**
 * Verifies a large binary upload whose completion the API handed over (lib/uploads): copies and
 * checks its bytes (size, SHA-256, every value finite), then creates the PENDING update and starts
 * a run if the round is ready, as a completion in the API function does for small uploads. Bytes
 * that fail mark the upload refused, which the client's next completion request answers (400, or
 * 403 for a client removed from the model); that is an answer, not a failure, so it is returned,
 * not thrown (Lambda would retry a thrown error). Anything else is thrown and retried; a
 * verification that never finishes is taken over by the client's next completion request after
 * `UploadLimits.verificationTakeoverSeconds`.
 */
export const handler = createHandler({ input }, async ({ upload }) => {
  const connector = getConnector();
  try {
    appendCorrelationKeys({ upload });
    const { update, created } = await connector.verifyModelUpdateUpload(upload);
    if (created) {
      recordUploadAccepted(update);
      await startRunForNewUpdate(connector, update);
    }
    return { upload, status: 'complete', update: update.id };
  } catch (error) {
    if (error instanceof ValidationError || error instanceof ForbiddenError) {
      recordMetricBy(MetricName.UpdatesRefused, 'reason', error.name);
      return { upload, status: 'refused', reason: error.message };
    }
    throw error;
  }
});
