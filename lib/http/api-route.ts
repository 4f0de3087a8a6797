import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import type { MetadataConnector } from '../connector';
import { EntityIdSchema } from '../entities';
import { FmaError, ForbiddenError, UnauthorizedError } from '../errors';
import { appendCorrelationKeys, type MetricName } from '../observability';
import { headerValue } from './events';
import { createHandler, jsonBody } from './handler';

/**
 * Who is calling: a federated client (CLIENT-UUID header) or a developer (Authorization: Token).
 * A client's `id` is its public id; `credential` is the CLIENT-UUID it sent, never shown to others.
 */
export type Caller =
  | { readonly kind: 'client'; readonly id: string; readonly credential: string }
  | { readonly kind: 'developer'; readonly id: string };

export type Audience = 'client' | 'developer' | 'any' | 'anyone';

export type ClientCaller = Extract<Caller, { readonly kind: 'client' }>;
export type DeveloperCaller = Extract<Caller, { readonly kind: 'developer' }>;

/**
 * Who a route of that audience can be called by, as its handler sees the caller: `client` and
 * `developer` routes only by that kind, `any` by either, `anyone` by nobody too (null).
 */
export type CallerOf<A extends Audience> = A extends 'client'
  ? ClientCaller
  : A extends 'developer'
    ? DeveloperCaller
    : A extends 'any'
      ? Caller
      : Caller | null;

export interface ApiRequest<Body, Params, Query, A extends Audience = Audience> {
  readonly caller: CallerOf<A>;
  readonly body: Body;
  readonly params: Params;
  readonly query: Query;
  readonly event: APIGatewayProxyEventV2;
}

export interface ApiRouteOptions<B extends z.ZodType, P extends z.ZodType, Q extends z.ZodType, A extends Audience = Audience> {
  /** Who may call: `anyone` lets unauthenticated callers through (with `caller` null). */
  readonly audience: A;
  readonly body?: B;
  readonly params?: P;
  readonly query?: Q;
  /** What the route is for and what it answers: the OpenAPI description is generated from it. */
  readonly doc: RouteDoc;
  /** Refusals (4xx) are counted as this metric, by reason: `UpdatesRefused` on the submission routes. */
  readonly refusalMetric?: MetricName;
}

/** A successful answer of a route, for its OpenAPI description. */
export interface ResponseDoc {
  readonly description: string;
  /** The JSON body; none for an empty answer (204). */
  readonly body?: z.ZodType;
  /** Response headers: name → description. */
  readonly headers?: Readonly<Record<string, string>>;
  /** An example body (it must fit `body`: a test checks). */
  readonly example?: unknown;
}

/**
 * A route's OpenAPI description beyond its validation schemas: a summary, its successful answers,
 * and the errors particular to it. The errors every route can give (400 for a bad body, query or
 * path; 401 and 403 for credentials; 404; 413 for a body too large; 503 when the database is out
 * of reach) are added by the description's generator from the route's audience and inputs.
 */
export interface RouteDoc {
  readonly summary: string;
  readonly description?: string;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
  /** Errors this route answers beyond the common ones: status → when. */
  readonly errors?: Readonly<Record<number, string>>;
  /** Request headers this route reads: name → description. */
  readonly headers?: Readonly<Record<string, string>>;
  /** An example request body (it must pass the route's body schema: a test checks). */
  readonly requestExample?: unknown;
}

/** What a route validates and answers, attached to its handler for the OpenAPI generator. */
export interface RouteContract {
  readonly audience: Audience;
  readonly body?: z.ZodType;
  readonly params?: z.ZodType;
  readonly query?: z.ZodType;
  readonly doc: RouteDoc;
}

/**
 * An HTTP route of the client and developer API (FMA's `/api/v1/`): validates path parameters,
 * query and body with zod, authenticates the caller, and answers errors in the shapes FMA's
 * Django REST Framework clients expect (`{"detail": ...}`, `{"field": ["message"]}`).
 */
export function apiRoute<
  B extends z.ZodType = z.ZodUnknown,
  P extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  A extends Audience = Audience,
>(
  connector: () => MetadataConnector,
  options: ApiRouteOptions<B, P, Q, A>,
  run: (request: ApiRequest<z.output<B>, z.output<P>, z.output<Q>, A>) => Promise<unknown>,
) {
  const input = z.object({
    body: options.body ?? z.unknown(),
    params: options.params ?? z.unknown(),
    query: options.query ?? z.unknown(),
  });
  const handler = createHandler(
    {
      input,
      httpOnly: true,
      fromHttpEvent: (event) => ({
        body: options.body === undefined ? undefined : jsonBody(event),
        params: event.pathParameters ?? {},
        query: event.queryStringParameters ?? {},
      }),
      errorBody: drfErrorBody,
      refusalMetric: options.refusalMetric,
    },
    async (parsedInput, event) => {
      const parsed = parsedInput as { body: unknown; params: unknown; query: unknown };
      const http = event as APIGatewayProxyEventV2;
      const caller = await authenticate(connector(), http);
      // The caller's public id (never its credential) on every line logged from here on.
      if (caller !== null) appendCorrelationKeys(caller.kind === 'client' ? { client: caller.id } : { developer: caller.id });
      if (caller === null && options.audience !== 'anyone') throw new UnauthorizedError();
      if (caller !== null && options.audience !== 'any' && options.audience !== 'anyone' && caller.kind !== options.audience) {
        throw new ForbiddenError(`Only ${options.audience}s may do this.`);
      }
      // The checks above make the caller what CallerOf<A> says; TypeScript cannot follow them.
      return run({ caller, body: parsed.body, params: parsed.params, query: parsed.query, event: http } as never);
    },
  );
  const contract: RouteContract = { audience: options.audience, body: options.body, params: options.params, query: options.query, doc: options.doc };
  return Object.assign(handler, { contract });
}

async function authenticate(connector: MetadataConnector, event: APIGatewayProxyEventV2): Promise<Caller | null> {
  const authorization = headerValue(event, 'authorization');
  if (authorization !== undefined) {
    const token = /^Token\s+(\S+)$/i.exec(authorization.trim())?.[1];
    const developer = token === undefined ? null : await connector.findDeveloperByToken(token);
    if (developer === null) throw new UnauthorizedError('Invalid token.');
    return { kind: 'developer', id: developer.id };
  }
  // An empty CLIENT-UUID counts as none, as in FMA's ClientAuthentication (`if not uuid`).
  const clientId = headerValue(event, 'client-uuid')?.trim();
  if (clientId !== undefined && clientId !== '') {
    const client = await connector.findClientByCredential(clientId);
    if (client === null) {
      // Not registered here (another deployment's, or a database that was reset): refused, never
      // adopted, since a client's UUID is its credential and only the server makes one. 403 as
      // DRF answers when the authenticator sends no `WWW-Authenticate` (FMA's ClientAuthentication).
      throw new ForbiddenError('Unknown client: CLIENT-UUID names no client of this service. Register without it to get a new UUID.');
    }
    return { kind: 'client', id: client, credential: clientId };
  }
  return null;
}

/**
 * Error bodies as Django REST Framework writes them: validation errors as
 * `{"<field>": ["<message>"]}` (the field path relative to the body), others as `{"detail": ...}`.
 */
export function drfErrorBody(error: FmaError): unknown {
  if (error.body !== undefined) return error.body;
  if (error.statusCode === 400 && error.details.length > 0) {
    const fields: Record<string, string[]> = {};
    for (const detail of error.details) {
      const field = detail.field.replace(/^(body|params|query)\.?/, '') || 'non_field_errors';
      (fields[field] ??= []).push(detail.message);
    }
    return fields;
  }
  return { detail: error.message };
}

/** The `{id}` path parameter of item routes: a positive integer id. */
export const IdPathParams = z.object({ id: z.coerce.number().pipe(EntityIdSchema) });
