/** What went wrong talking to the API, in words a developer can act on. */

/** The API answered with an error status; `body` is its JSON (DRF's `{"detail": ...}` or `{"field": [...]}`). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`The service answered ${status}`);
  }
}

/** The request never got an answer (service down, network gone, request blocked). */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
}

/** The API's own words from an error body: `detail`, or each field's messages. */
export function apiErrorText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (typeof body !== 'object' || body === null) return '';
  const record = body as Record<string, unknown>;
  if (typeof record.detail === 'string') return record.detail;
  return Object.entries(record)
    .map(([field, value]) => `${field}: ${[value].flat().map(String).join(' ')}`)
    .join('; ');
}

/** A sentence for the page. */
export function describeError(error: unknown, origin: string): string {
  if (error instanceof NetworkError) {
    return `Could not reach the service at ${origin}: the request failed before any answer came back (is the service running, and is the network up?).`;
  }
  if (error instanceof ApiError) {
    const said = apiErrorText(error.body);
    const suffix = said === '' ? '' : ` The service said: “${said}”`;
    switch (error.status) {
      case 401:
        return `The service did not accept this token (401 Unauthorized). Paste your developer token again.${suffix}`;
      case 403:
        return `This token may not do that (403 Forbidden).${suffix}`;
      case 404:
        return `Not found (404): it does not exist, or it belongs to another developer.${suffix}`;
      case 400:
        return `The service refused the request (400 Bad Request).${suffix}`;
      default:
        return error.status >= 500
          ? `The service failed (${error.status}); try again in a moment.${suffix}`
          : `The service answered ${error.status}.${suffix}`;
    }
  }
  return `Something went wrong: ${error instanceof Error ? error.message : String(error)}`;
}
