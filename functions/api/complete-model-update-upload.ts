import { z } from 'zod';
import { clientModelUpdateJson } from '../../lib/api/representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { startRunForNewUpdate } from '../../lib/aggregation/start-run';
import { ClientModelUpdateJsonSchema } from '../../lib/api/response-schemas';

export const params = z.object({ upload: z.string() });

const doc: RouteDoc = {
  summary: 'Complete a binary upload: the bytes are checked and the update is created',
  responses: {
    200: { description: 'Completed before: the update it created', body: ClientModelUpdateJsonSchema },
    201: { description: 'The update', body: ClientModelUpdateJsonSchema },
  },
};

/**
 * `POST /api/v1/model_updates/uploads/{upload}/complete/`: the client says its bytes are up. They
 * are checked (size, SHA-256, every value finite) in one streamed pass; only then is the update
 * created, PENDING (201). Bytes that fail are deleted and the upload is refused (400). Completing
 * again answers the same update (200).
 */
export const handler = apiRoute(getConnector, { audience: 'client', params, doc }, async ({ caller, params: { upload } }) => {
  const connector = getConnector();
  const { update, created } = await connector.completeModelUpdateUpload(upload, caller.id);
  if (created) await startRunForNewUpdate(connector, update);
  return respond(created ? 201 : 200, clientModelUpdateJson(update));
});
