import { z } from 'zod';
import { EntityIdSchema, ClientIdSchema } from '../../lib/entities';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';

export const query = z.object({ round: z.coerce.number().pipe(EntityIdSchema) });

const SharesJsonSchema = z
  .object({ round: EntityIdSchema, shares: z.array(z.object({ from: ClientIdSchema, ciphertext: z.string() })) })
  .meta({ id: 'SecureRoundInbox' });

const doc: RouteDoc = {
  summary: 'Secure round, stage 3: the encrypted shares the sharers addressed to this client (its own only)',
  responses: { 200: { description: "The caller's shares", body: SharesJsonSchema } },
  errors: { 409: 'The round is still advertising or sharing: shares are routed when sharing closes' },
};

/** `GET /api/v1/models/{id}/secure_round/shares/?round=N` (docs/secure-aggregation-protocol.md). */
export const handler = apiRoute(getConnector, { audience: 'client', params: IdPathParams, query, doc }, async ({ caller, params: { id }, query: { round } }) => {
  const shares = await getConnector().pullSecureRoundInbox(id, caller.id, round);
  return { round, shares: shares.map((share) => ({ from: share.from, ciphertext: share.ciphertext })) };
});
