import { buildOpenApiDocument, type ApiOperation } from '../../lib/api/openapi-document';
import type { RouteContract } from '../../lib/http/api-route';
import { routes } from '../../functions/api/router';
import { version } from '../../package.json';
import { OPERATOR_OPERATIONS } from './operator-routes';

/** Every route of the router with its contract (each route's module loaded). */
export async function routeContracts(): Promise<ApiOperation[]> {
  return Promise.all(
    routes.map(async (route) => {
      const contract = ((await route.load()) as { contract?: RouteContract }).contract;
      if (contract === undefined) throw new Error(`${route.method} ${route.path} is not an apiRoute: it has no contract to describe`);
      return { method: route.method, path: route.path, contract };
    }),
  );
}

/** The API's OpenAPI description as the code defines it now: the router's routes, the operator routes. */
export async function generateOpenApiDocument(): Promise<Record<string, unknown>> {
  return buildOpenApiDocument({ version, apiOperations: await routeContracts(), operatorOperations: OPERATOR_OPERATIONS });
}

/** As committed: two-space indentation and a final newline. */
export function openApiText(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

export const OPENAPI_FILE = 'openapi/openapi.json';
