import { z } from 'zod';
import { drfBody } from '../../lib/api/drf-body';
import { RoundNumber, SecureRoundJsonSchema, secureRoundJson } from '../../lib/api/secure-round-representation';
import { startSecureRoundRun } from '../../lib/aggregation/start-run';
import { getConnector } from '../../lib/connector';
import { ClientIdSchema } from '../../lib/entities';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

export const body = drfBody({
  round: RoundNumber,
  /** For each sharer: its `b` share if it sent its masked input, else its `sk` share; never both. */
  shares: z.array(z.strictObject({ of: ClientIdSchema, kind: z.enum(['b', 'sk']), share: z.string().max(132) })).min(1).max(10_000),
});

const doc: RouteDoc = {
  summary: 'Secure round, stage 4: reveal the shares that remove the masks (b of survivors, sk of dropped clients)',
  responses: { 201: { description: 'The round', body: SecureRoundJsonSchema } },
  errors: { 409: 'The round is not unmasking (too late, or a replay), or this client already revealed' },
};

/** `POST /api/v1/models/{id}/secure_round/reveal/`: the last reveal starts the sum. */
export const handler = apiRoute(getConnector, { audience: 'client', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const step = await getConnector().revealSecureRoundShares(id, caller.id, input.round, input.shares);
  if (step.readyToSum) await startSecureRoundRun(step.round, 'update');
  return respond(201, secureRoundJson(step.round, caller));
});
