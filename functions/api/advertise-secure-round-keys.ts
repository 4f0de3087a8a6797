import { z } from 'zod';
import { drfBody } from '../../lib/api/drf-body';
import { SecureRoundJsonSchema, secureRoundJson } from '../../lib/api/secure-round-representation';
import { startSecureRoundRun } from '../../lib/aggregation/start-run';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';

export const body = drfBody({
  /** Base64 of the 32-byte X25519 public key the client's shares are encrypted to. */
  c_public_key: z.string().max(64),
  /** Base64 of the 32-byte X25519 public key its pairwise masks are agreed with. */
  s_public_key: z.string().max(64),
  /** The update's layer shapes: required only to open a model's first round (it has no weights yet). */
  shapes: z.array(z.array(z.number().int().positive()).min(1).max(8)).min(1).max(10_000).optional(),
  layout: z.enum(['vector', 'layers']).optional(),
});

const doc: RouteDoc = {
  summary: "Secure round, stage 1: advertise this client's public keys (joins the open round, or opens one)",
  requestExample: { c_public_key: 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=', s_public_key: '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=' },
  responses: { 201: { description: 'The round joined', body: SecureRoundJsonSchema } },
  errors: { 409: 'The model does not use secure aggregation, or its open round is past key advertisement, or this client already advertised in it' },
};

/** `POST /api/v1/models/{id}/secure_round/keys/` (docs/secure-aggregation-protocol.md). */
export const handler = apiRoute(getConnector, { audience: 'client', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input }) => {
  const shape =
    input.shapes === undefined
      ? undefined
      : {
          layout: input.layout ?? (input.shapes.length === 1 && input.shapes[0]!.length === 1 ? ('vector' as const) : ('layers' as const)),
          shapes: input.shapes,
          length: input.shapes.reduce((sum, dims) => sum + dims.reduce((product, d) => product * d, 1), 0),
        };
  const step = await getConnector().advertiseSecureRoundKeys(id, caller.id, {
    cPublicKey: input.c_public_key,
    sPublicKey: input.s_public_key,
    ...(shape === undefined ? {} : { shape }),
  });
  if (step.readyToSum) await startSecureRoundRun(step.round, 'update');
  return respond(201, secureRoundJson(step.round, caller));
});
