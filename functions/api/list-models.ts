import { booleanFilter, LIST_HEADERS, listQuery, listResponse, PAGE_SIZES } from '../../lib/api/lists';
import { federatedModelJson } from '../../lib/api/representation';
import { getConnector, type Page } from '../../lib/connector';
import { apiRoute, type RouteDoc } from '../../lib/http/api-route';
import { FederatedModelJsonSchema } from '../../lib/api/response-schemas';
import { z } from 'zod';

const doc: RouteDoc = { summary: "The developer's models, newest first", responses: { 200: { description: 'A page of models', body: z.array(FederatedModelJsonSchema), headers: LIST_HEADERS } } };

/** `GET /api/v1/models/`: the developer's own models, newest first; `?allow_aggregation=`, `?ordering=`. */
export const handler = apiRoute(getConnector, { audience: 'developer', query: listQuery({ allow_aggregation: 'Only those whose allow_aggregation is this (`true`/`false`)' }), doc }, async ({ caller, query, event }) => {
  const filter = { developer: caller.id, allowAggregation: booleanFilter(query, 'allow_aggregation') };
  const connector = getConnector();
  // The page's models, then each one's first members (bounded reads, in parallel).
  const listWithClients = async (page: Page) => {
    const paged = await connector.listFederatedModels(filter, page);
    const members = await connector.pullMemberPreviews(paged.items.map((model) => model.id));
    return { ...paged, items: paged.items.map((model) => ({ model, members: members.get(model.id) ?? { clients: [], total: 0 } })) };
  };
  return listResponse(event, PAGE_SIZES.models, listWithClients, ({ model, members }) => federatedModelJson(model, members));
});
