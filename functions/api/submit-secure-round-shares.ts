import { z } from 'zod';
import { drfBody } from '../../lib/api/drf-body';
import { Ciphertext, RoundNumber, SecureRoundJsonSchema, secureRoundJson } from '../../lib/api/secure-round-representation';
import { getConnector } from '../../lib/connector';
import { ClientIdSchema } from '../../lib/entities';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

export const body = drfBody({
  round: RoundNumber,
  /** One AEAD ciphertext for each other participant: the service routes them and cannot read them. */
  shares: z.array(z.strictObject({ to: ClientIdSchema, ciphertext: Ciphertext })).min(1).max(10_000),
});

const doc: RouteDoc = {
  summary: "Secure round, stage 2: this client's encrypted shares, one for each other participant",
  responses: { 201: { description: 'The round', body: SecureRoundJsonSchema } },
  errors: { 409: 'The round is not sharing (too late, or a replay), or this client already sent its shares' },
};

/** `POST /api/v1/models/{id}/secure_round/shares/` (docs/secure-aggregation-protocol.md). */
export const handler = apiRoute(getConnector, { audience: 'client', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const step = await getConnector().submitSecureRoundShares(id, caller.id, input.round, input.shares);
  return respond(201, secureRoundJson(step.round, caller));
});
