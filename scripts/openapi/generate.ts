import { buildOpenApiDocument, type ApiOperation } from '../../lib/api/openapi-document';
import type { RouteContract } from '../../lib/http/api-route';
import { routes } from '../../functions/api/router';
import { version } from '../../package.json';
import { OPERATOR_OPERATIONS } from './operator-routes';

/** The API's OpenAPI description as the code defines it now: the router's routes, the operator routes. */
export function generateOpenApiDocument(): Record<string, unknown> {
  const apiOperations: ApiOperation[] = routes.map((route) => {
    const contract = (route.handler as unknown as { contract?: RouteContract }).contract;
    if (contract === undefined) throw new Error(`${route.method} ${route.path} is not an apiRoute: it has no contract to describe`);
    return { method: route.method, path: route.path, contract };
  });
  return buildOpenApiDocument({ version, apiOperations, operatorOperations: OPERATOR_OPERATIONS });
}

/** As committed: two-space indentation and a final newline. */
export function openApiText(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

export const OPENAPI_FILE = 'openapi/openapi.json';
