import { readFileSync } from 'node:fs';
import path from 'node:path';
import { routes } from '../../functions/api/router';
import { generateOpenApiDocument, OPENAPI_FILE, openApiText, routeContracts } from '../../scripts/openapi/generate';

const root = path.resolve(__dirname, '..', '..');
type Document = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, unknown> } };
let document: Document;
let contracts: Awaited<ReturnType<typeof routeContracts>>;
beforeAll(async () => {
  document = (await generateOpenApiDocument()) as Document;
  contracts = await routeContracts();
});

/** `method path` of every HTTP route serverless.yml declares. */
function serverlessRoutes(): string[] {
  const text = readFileSync(path.join(root, 'serverless.yml'), 'utf8');
  return [...text.matchAll(/method: (\w+)\s+path: (\S+)/g)].map(([, method, route]) => `${method!.toUpperCase()} ${route}`);
}

describe('the OpenAPI description', () => {
  it('is committed as the handlers generate it (run `npm run openapi` after changing a route)', () => {
    expect(readFileSync(path.join(root, OPENAPI_FILE), 'utf8')).toBe(openApiText(document));
  });

  it('describes every route of the API router, with and without the trailing slash FMA\'s clients send', () => {
    for (const route of routes) {
      const documented = route.path.endsWith('.json') ? route.path : `${route.path}/`;
      expect({ route: `${route.method} ${route.path}`, described: document.paths[documented]?.[route.method.toLowerCase()] !== undefined }).toEqual({
        route: `${route.method} ${route.path}`,
        described: true,
      });
    }
  });

  it('describes exactly the operator routes serverless.yml declares (the API and the dashboard aside)', () => {
    const declared = serverlessRoutes().filter((r) => !/ \/(api\/v1\/\{proxy\+\}|dashboard|health)/.test(r));
    const described = Object.entries(document.paths)
      .filter(([route]) => !route.startsWith('/api/v1/'))
      .flatMap(([route, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${route}`));
    expect(described.sort()).toEqual(declared.sort());
  });

  it('refers only to components it defines', () => {
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(([, name]) => name!);
    expect(refs.length).toBeGreaterThan(20);
    for (const name of new Set(refs)) expect({ name, defined: name in document.components.schemas }).toEqual({ name, defined: true });
  });

  it('gives each operation its credentials: clients CLIENT-UUID, developers a token, operators IAM', () => {
    expect(document.paths['/api/v1/model_updates/']!.post.security).toEqual([{ ClientUuid: [] }]);
    expect(document.paths['/api/v1/models/']!.post.security).toEqual([{ DeveloperToken: [] }]);
    expect(document.paths['/api/v1/models/{id}/register_client/']!.post.security).toEqual([{}, { ClientUuid: [] }]);
    expect(document.paths['/connector/update_database']!.post.security).toEqual([{ AwsIam: [] }]);
  });

  it('documents the error shapes: DRF bodies for the API, 413 where a body is read, 409 for a reused Idempotency-Key', () => {
    const post = document.paths['/api/v1/model_updates/']!.post;
    expect(Object.keys(post.responses)).toEqual(['201', '400', '401', '403', '404', '409', '413', '503']);
    expect(post.responses['400'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/BadRequestError' });
    expect(document.paths['/api/v1/models/{id}/']!.get.responses['413']).toBeUndefined();
    expect(post.parameters).toEqual([expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false })]);
  });

  it('takes its request bodies from the schemas the handlers validate with', () => {
    const body = document.paths['/api/v1/model_updates/uploads/']!.post.requestBody;
    const schema = body.content['application/json'].schema;
    expect(schema.properties.dtype).toEqual({ type: 'string', enum: ['float32', 'float64', 'float16', 'bfloat16', 'int8'] });
    expect(schema.required).toEqual(expect.arrayContaining(['federated_model', 'dtype', 'shapes', 'sha256']));
    // FMA's clients register with no body at all: only bodies that `{}` does not satisfy are required.
    expect(document.paths['/api/v1/models/{id}/register_client/']!.post.requestBody.required).toBe(false);
    expect(body.required).toBe(true);
  });

  it('gives examples that the routes\' own schemas accept', () => {
    const withExamples = contracts
      .map((route) => ({ route: `${route.method} ${route.path}`, contract: route.contract }))
      .filter(({ contract }) => contract.doc.requestExample !== undefined);
    expect(withExamples.length).toBeGreaterThanOrEqual(7);
    for (const { route, contract } of withExamples) {
      expect({ route, accepted: contract.body!.safeParse(contract.doc.requestExample).success }).toEqual({ route, accepted: true });
    }
    expect(document.paths['/api/v1/model_updates/']!.post.requestBody.content['application/json'].example).toEqual(
      expect.objectContaining({ federated_model: 1, data: [0.12, -0.5, 1.75] }),
    );
  });
});
