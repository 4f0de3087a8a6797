import { z } from 'zod';
import type { Audience, RouteContract } from '../http/api-route';
import {
  BadRequestErrorSchema,
  DetailErrorSchema,
  OperatorErrorSchema,
} from './response-schemas';

/**
 * Builds the OpenAPI 3.1 description of the HTTP API from the zod schemas the handlers validate
 * with and answer by (zod 4's own JSON Schema output, draft 2020-12, which OpenAPI 3.1 schemas
 * are). Nothing in it is written by hand but the prose: paths and methods come from the router and
 * from serverless.yml's operator routes, inputs from the handlers' schemas, answers from
 * `response-schemas.ts`. `scripts/generate-openapi.ts` writes it to `openapi/openapi.json`; a test
 * fails when the committed copy and a fresh one differ.
 */

/** A route of the client and developer API: the router's method and path, the handler's contract. */
export interface ApiOperation {
  readonly method: string;
  readonly path: string;
  readonly contract: RouteContract;
}

/** An operator route (IAM-signed on AWS): its input is the JSON body, or the path's parameters. */
export interface OperatorOperation {
  readonly method: string;
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly input: z.ZodType;
  readonly inputIn: 'body' | 'path';
  readonly result: z.ZodType;
  readonly errors: Readonly<Record<number, string>>;
}

export interface OpenApiSources {
  readonly version: string;
  readonly apiOperations: readonly ApiOperation[];
  readonly operatorOperations: readonly OperatorOperation[];
}

type JsonObject = Record<string, unknown>;

const SECURITY_SCHEMES = {
  ClientUuid: {
    type: 'apiKey',
    in: 'header',
    name: 'CLIENT-UUID',
    description: 'The credential a client was given as `uuid` when it registered (FMA\'s wire protocol)',
  },
  DeveloperToken: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: 'A developer\'s API token as `Token <key>` (`npm run create-developer` makes one)',
  },
  AwsIam: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: 'AWS Signature Version 4 with IAM credentials (operators). serverless-offline does not check it.',
  },
} as const;

const SECURITY_BY_AUDIENCE: Record<Audience, JsonObject[]> = {
  client: [{ ClientUuid: [] }],
  developer: [{ DeveloperToken: [] }],
  any: [{ ClientUuid: [] }, { DeveloperToken: [] }],
  // No credential needed; a client that has one may send it.
  anyone: [{}, { ClientUuid: [] }],
};

/** Converts zod schemas to JSON Schemas whose named parts (`.meta({ id })`) become components. */
class SchemaComponents {
  readonly schemas: Record<string, unknown> = {};

  toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonObject;
    delete json.$schema;
    const defs = (json.$defs ?? {}) as Record<string, JsonObject>;
    delete json.$defs;
    // A named schema at the top comes back as a `$ref` to its own `$defs` entry, like any other.
    for (const [name, def] of Object.entries(defs)) this.add(name, rewriteRefs(def) as JsonObject);
    return rewriteRefs(json) as JsonObject;
  }

  private add(name: string, schema: JsonObject): void {
    const { id: _id, ...rest } = schema;
    const existing = this.schemas[name];
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(rest)) {
      throw new Error(`Two different schemas are named ${name}: give one of them another id`);
    }
    this.schemas[name] = rest;
  }
}

/**
 * zod refers to a named part as `#/$defs/<id>`; in an OpenAPI document `#` is the document, so the
 * references are pointed at the components instead.
 */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteRefs(item));
  if (value === null || typeof value !== 'object') return value;
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === '$ref' && typeof item === 'string' && item.startsWith('#/$defs/')) {
      result[key] = `#/components/schemas/${item.slice('#/$defs/'.length)}`;
    } else if (key === '$ref' && item === '#') {
      throw new Error('A schema refers to itself without an id: give the recursive part .meta({ id })');
    } else if (key === 'id' && typeof item === 'string') {
      // zod copies `.meta({ id })` into the output; it is not a JSON Schema keyword.
      continue;
    } else {
      result[key] = rewriteRefs(item);
    }
  }
  return result;
}

function jsonContent(schema: JsonObject, example?: unknown) {
  return { 'application/json': { schema, ...(example === undefined ? {} : { example }) } };
}

/** The parameters of an object schema's keys (path or query), each with its own JSON Schema. */
function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query', components: SchemaComponents): JsonObject[] {
  if (schema === undefined) return [];
  const json = components.toJsonSchema(schema, 'output');
  const properties = (json.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

function headersOf(headers: Readonly<Record<string, string>> | undefined) {
  if (headers === undefined) return undefined;
  return Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]));
}

function apiOperationObject(operation: ApiOperation, components: SchemaComponents): JsonObject {
  const { contract } = operation;
  const { doc } = contract;
  const responses: JsonObject = {};
  for (const [status, response] of Object.entries(doc.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.headers === undefined ? {} : { headers: headersOf(response.headers) }),
      ...(response.body === undefined ? {} : { content: jsonContent(components.toJsonSchema(response.body, 'output'), response.example) }),
    };
  }
  const error = (description: string, schema: z.ZodType = DetailErrorSchema) => ({
    description,
    content: jsonContent(components.toJsonSchema(schema, 'output')),
  });
  responses['400'] = error('The body, query, path or a header is not valid: messages per field, as DRF answers', BadRequestErrorSchema);
  responses['401'] = error('Authorization names no developer token');
  responses['403'] = error('The caller may not do this, or CLIENT-UUID names no client of this service');
  responses['404'] = error('Not found, or not visible to the caller');
  if (contract.body !== undefined) responses['413'] = error('The body is larger than 5 MiB (send large weights as binary)');
  for (const [status, description] of Object.entries(doc.errors ?? {})) responses[status] = error(description);
  responses['503'] = error('The database is out of reach; retry later');

  const headerParameters = Object.entries(doc.headers ?? {}).map(([name, description]) => ({
    name,
    in: 'header',
    required: false,
    description,
    schema: { type: 'string' },
  }));
  return {
    operationId: operationId(operation.method, operation.path),
    summary: doc.summary,
    ...(doc.description === undefined ? {} : { description: doc.description }),
    tags: [operation.path.split('/')[3] ?? 'api'],
    security: SECURITY_BY_AUDIENCE[contract.audience],
    parameters: [
      ...parametersOf(contract.params, 'path', components),
      ...parametersOf(contract.query, 'query', components),
      ...headerParameters,
    ],
    ...(contract.body === undefined ? {} : { requestBody: requestBodyOf(contract.body, components, doc.requestExample) }),
    responses: sortedByStatus(responses),
  };
}

function operatorOperationObject(operation: OperatorOperation, components: SchemaComponents): JsonObject {
  const error = (description: string) => ({ description, content: jsonContent(components.toJsonSchema(OperatorErrorSchema, 'output')) });
  const responses: JsonObject = {
    200: { description: 'The result', content: jsonContent(components.toJsonSchema(operation.result, 'output')) },
    400: error('The input is not valid: `details` names each field'),
    ...Object.fromEntries(Object.entries(operation.errors).map(([status, description]) => [status, error(description)])),
    ...(operation.inputIn === 'body' ? { 413: error('The body is larger than 5 MiB') } : {}),
    503: error('The database is out of reach; retry later'),
  };
  return {
    operationId: operationId(operation.method, operation.path),
    summary: operation.summary,
    ...(operation.description === undefined ? {} : { description: operation.description }),
    tags: [operation.path.split('/')[1] ?? 'operator'],
    security: [{ AwsIam: [] }],
    parameters: operation.inputIn === 'path' ? parametersOf(operation.input, 'path', components) : [],
    ...(operation.inputIn === 'body' ? { requestBody: requestBodyOf(operation.input, components) } : {}),
    responses: sortedByStatus(responses),
  };
}

/**
 * A JSON request body. An absent body is read as `{}` (FMA's clients send none to
 * `register_client`), so a body is required only where `{}` would be refused.
 */
function requestBodyOf(schema: z.ZodType, components: SchemaComponents, example?: unknown): JsonObject {
  return { required: !schema.safeParse({}).success, content: jsonContent(components.toJsonSchema(schema, 'input'), example) };
}

function sortedByStatus(responses: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
}

/** `GET /api/v1/models/{id}/get_latest_model/` → `getModelsIdGetLatestModel`. */
function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v1\//, '/')
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '');
  return [method.toLowerCase(), ...words.map((word) => word[0]!.toUpperCase() + word.slice(1))].join('');
}

/** FMA's clients call the API's paths with a trailing slash; the router takes both forms. */
function documentedPath(path: string): string {
  return path.startsWith('/api/v1/') && !path.endsWith('.json') ? `${path}/` : path;
}

export function buildOpenApiDocument(sources: OpenApiSources): JsonObject {
  const components = new SchemaComponents();
  const paths: Record<string, JsonObject> = {};
  const add = (method: string, path: string, operation: JsonObject) => {
    const entry = (paths[documentedPath(path)] ??= {});
    entry[method.toLowerCase()] = operation;
  };
  for (const operation of sources.apiOperations) add(operation.method, operation.path, apiOperationObject(operation, components));
  for (const operation of sources.operatorOperations) add(operation.method, operation.path, operatorOperationObject(operation, components));
  return {
    openapi: '3.1.1',
    info: {
      title: 'Federated model aggregation (serverless)',
      version: sources.version,
      description:
        "FMA's REST API for federated clients and model developers (`/api/v1`), and the operator routes " +
        '(`/connector/*`, `/aggregation/*`). Generated from the handlers\' zod schemas by scripts/generate-openapi.ts.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/', description: 'The deployment that serves this description' }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      securitySchemes: SECURITY_SCHEMES,
      schemas: Object.fromEntries(Object.entries(components.schemas).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}
