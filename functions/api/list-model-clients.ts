import { z } from 'zod';
import { requireVisibleModel } from '../../lib/api/access';
import { LIST_HEADERS, listQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { ModelMemberJsonSchema } from '../../lib/api/response-schemas';
import { getConnector } from '../../lib/connector';
import { apiRoute, IdPathParams, type RouteDoc } from '../../lib/http/api-route';

const doc: RouteDoc = { summary: "A model's members, in the order they joined", responses: { 200: { description: 'A page of members', body: z.array(ModelMemberJsonSchema), headers: LIST_HEADERS } } };

/**
 * `GET /api/v1/models/{id}/clients/`: the owner's view of every member, page by page (100 by
 * default, at most 1,000), oldest first; a model's own representation lists only the first 1,000.
 */
export const handler = apiRoute(getConnector, { audience: 'developer', params: IdPathParams, query: listQuery({}), doc }, async ({ caller, params: { id }, event }) => {
  const connector = getConnector();
  const model = await requireVisibleModel(connector, caller, id);
  return listResponse(event, PAGE_SIZES.members, (page) => connector.pullModelMembers(model.id, page), (member) => ({
    client: member.client,
    joined_on: member.joinedOn.toISOString(),
  }));
});
