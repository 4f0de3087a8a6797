import { z } from 'zod';
import { requireVisibleModel } from '../../lib/api/access';
import { SecureRoundJsonSchema, secureRoundJson } from '../../lib/api/secure-round-representation';
import { startSecureRoundRun } from '../../lib/aggregation/start-run';
import { getConnector } from '../../lib/connector';
import { EntityIdSchema } from '../../lib/entities';
import { NotFoundError } from '../../lib/errors';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';

export const query = z.object({ round: z.coerce.number().pipe(EntityIdSchema).optional() });

const doc: RouteDoc = {
  summary: "A model's secure round: its stage, deadline, participants and survivors",
  description: 'The newest round, or `?round=N`. A stage past its deadline is closed first. Clients poll this between stages (docs/secure-aggregation-protocol.md).',
  responses: { 200: { description: 'The round', body: SecureRoundJsonSchema } },
};

/** `GET /api/v1/models/{id}/secure_round/`: the model's members and its developer see its rounds. */
export const handler = apiRoute(getConnector, { audience: 'any', params: IdPathParams, query, doc }, async ({ caller, params: { id }, query: { round } }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  const step = await connector.pullSecureRound(model.id, round ?? null);
  if (step === null) throw new NotFoundError(round === undefined ? `Federated model ${model.id} has no secure round yet` : `Round ${round} of federated model ${model.id} does not exist`);
  if (step.readyToSum) await startSecureRoundRun(step.round, 'update');
  return secureRoundJson(step.round, caller);
});
