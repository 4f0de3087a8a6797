import { z } from 'zod';
import { requireVisibleModel } from '../../lib/api/access';
import { federatedModelJson } from '../../lib/api/representation';
import { EntityIdSchema } from '../../lib/entities';
import { getConnector } from '../../lib/connector';
import { apiRoute } from '../../lib/http/api-route';

export const params = z.object({ id: z.coerce.number().pipe(EntityIdSchema) });

/** `GET /api/v1/models/{id}/`: one of the developer's own models (others' are 404). */
export const handler = apiRoute(getConnector, { audience: 'developer', params }, async ({ caller, params: { id } }) =>
  federatedModelJson(await requireVisibleModel(getConnector(), caller!, id)),
);
