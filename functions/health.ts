import { z } from 'zod';
import { getDatabase } from '../lib/db/client';
import { pingDatabase } from '../lib/db/ping';
import { createHandler } from '../lib/http/handler';
import { respond } from '../lib/http/response';

/** `GET /health`: 200 when the database answers a ping, 503 (still JSON) when it does not. */
export const handler = createHandler({ input: z.unknown(), fromHttpEvent: () => ({}) }, async () => {
  const database = await pingDatabase(getDatabase);
  return respond(database.ok ? 200 : 503, {
    status: database.ok ? 'ok' : 'degraded',
    database,
  });
});
