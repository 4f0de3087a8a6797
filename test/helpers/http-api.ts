/** What an HTTP call answered: the status and the parsed JSON body (undefined when empty). */
export interface ApiReply {
  status: number;
  headers: Headers;
  body: any;
}

export interface ApiCallOptions {
  /** A developer's token (`Authorization: Token <token>`). */
  token?: string;
  /** A client's credential (`CLIENT-UUID`). */
  client?: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * One way for end-to-end tests to call the service over real HTTP: `api(method, path, options)`
 * against `baseUrl()` (a function, so it can be made before the service has started).
 */
export function httpApi(baseUrl: () => string) {
  return async function api(method: string, path: string, options: ApiCallOptions = {}): Promise<ApiReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.token !== undefined) headers.authorization = `Token ${options.token}`;
    if (options.client !== undefined) headers['CLIENT-UUID'] = options.client;
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
  };
}
