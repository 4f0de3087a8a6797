import { z } from 'zod';
import { drfBody } from '../../lib/api/drf-body';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { ForbiddenError, NotFoundError } from '../../lib/errors';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';
import { respond } from '../../lib/http/response';
import { RegisteredClientJsonSchema } from '../../lib/api/response-schemas';

/** Reads `join_secret` only (FMA's client sends no body at all). */
export const body = drfBody({ join_secret: z.string().optional() });

const doc: RouteDoc = {
  summary: 'Join a model as a client (a new client without CLIENT-UUID)',
  requestExample: {},
  description: 'Answers the credential to send as CLIENT-UUID. A model with a join secret admits new members only with it.',
  responses: {
    200: { description: 'Already a client of the service (CLIENT-UUID sent): now a member', body: RegisteredClientJsonSchema },
    201: { description: 'A new client, now a member', body: RegisteredClientJsonSchema },
  },
  errors: { 429: 'This address registered REGISTRATIONS_PER_SOURCE_PER_MINUTE new clients this minute; Retry-After says when the minute ends' },
};

/**
 * `POST /api/v1/models/{id}/register_client/`: with a known client in `CLIENT-UUID`, adds it to
 * the model (200); without one, creates a client and adds it (201). Answers `{"uuid": ...}`.
 * A model with a join secret admits only callers that send it as `join_secret`.
 */
export const handler = apiRoute(getConnector, { audience: 'anyone', params: IdPathParams, body, doc }, async ({ caller, params: { id }, body: input, event }) => {
  if (caller?.kind === 'developer') throw new ForbiddenError('Developers do not register as clients.');
  const connector = getConnector();
  // The model (with its join secret, set once at creation) as the container knows it; the
  // membership read afresh, since a client removed a moment ago must not be let back in without
  // the join secret on the strength of what this container remembers.
  const { model } = await connector.pullModelForClient(id, null);
  if (model === null) throw new NotFoundError('Not found.');
  const isMember = caller !== null && (await connector.isModelClient(model.id, caller.id));
  if (!isMember && !(await connector.verifyJoinSecret(model, input.join_secret))) {
    throw new ForbiddenError('This model admits new clients only with its join secret.');
  }
  // `uuid` is the client's credential (FMA's wire protocol), answered only to the client itself;
  // the model, lists and developers know it by its public id.
  if (caller !== null) {
    if (!isMember) await connector.joinModel(model.id, caller.id);
    return respond(200, { uuid: caller.credential });
  }
  // Creating clients is open to anyone a model admits: bounded per source address (issue #24).
  await connector.countRequestFromSource('register clients', event.requestContext.http.sourceIp, {
    max: getConfig().REGISTRATIONS_PER_SOURCE_PER_MINUTE,
    windowSeconds: 60,
  });
  const client = await connector.createClient();
  await connector.joinModel(model.id, client.id);
  return respond(201, { uuid: client.credential });
});
