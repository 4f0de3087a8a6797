import { z } from 'zod';
import { drfBody } from '../../lib/api/drf-body';
import { RoundNumber, SecureRoundJsonSchema, secureRoundJson } from '../../lib/api/secure-round-representation';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

export const body = drfBody({ round: RoundNumber, upload: z.string().max(128) });

const doc: RouteDoc = {
  summary: "Secure round, stage 3: the masked input's bytes are up (they are checked, then counted)",
  responses: { 201: { description: 'The round', body: SecureRoundJsonSchema } },
  errors: { 409: 'The round is not taking masked inputs (too late, or a replay), or this client already sent one' },
};

/** `POST /api/v1/models/{id}/secure_round/masked_input/complete/` (docs/secure-aggregation-protocol.md). */
export const handler = apiRoute(getConnector, { audience: 'client', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const step = await getConnector().completeMaskedInput(id, caller.id, input.round, input.upload);
  return respond(201, secureRoundJson(step.round, caller));
});
