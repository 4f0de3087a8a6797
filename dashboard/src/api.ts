import { ApiError, NetworkError } from './errors';
import { nextPageUrl } from './links';

type Params = Readonly<Record<string, string | number>>;

export interface ListResult<T> {
  readonly items: T[];
  /** `X-Total-Count` of the list. */
  readonly total: number;
  /** True when `maxPages` stopped the walk before the last page. */
  readonly truncated: boolean;
}

/**
 * The existing `/api/v1` routes, called with the developer's token in the `Authorization` header
 * (never in a URL). No data path of its own.
 */
export class Api {
  constructor(
    readonly base: URL,
    private readonly token: string,
  ) {}

  url(path: string, params: Params = {}): URL {
    const url = new URL(path, this.base);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
    return url;
  }

  private async send(method: string, url: URL, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Accept: 'application/json',
          Authorization: `Token ${this.token}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch (error) {
      throw new NetworkError(error instanceof Error ? error.message : String(error));
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON: keep the text */
      }
      throw new ApiError(response.status, parsed);
    }
    return response;
  }

  async get<T>(path: string, params?: Params): Promise<T> {
    return (await (await this.send('GET', this.url(path, params))).json()) as T;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await (await this.send('POST', this.url(path), body)).json()) as T;
  }

  /** The length of a list, from `X-Total-Count` (one item fetched). */
  async count(path: string, params: Params = {}): Promise<number> {
    const response = await this.send('GET', this.url(path, { ...params, page_size: 1 }));
    return Number(response.headers.get('X-Total-Count') ?? 0);
  }

  /** Every page of a list, following `Link: <...>; rel="next"`, at most `maxPages` of them. */
  async all<T>(path: string, params: Params = {}, { pageSize = 20, maxPages = 50 } = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let url: URL | null = this.url(path, { ...params, page_size: pageSize });
    let total = 0;
    let pages = 0;
    while (url !== null && pages < maxPages) {
      const response = await this.send('GET', url);
      total = Number(response.headers.get('X-Total-Count') ?? 0);
      items.push(...((await response.json()) as T[]));
      pages += 1;
      url = nextPageUrl(url, response.headers.get('Link'));
    }
    return { items, total, truncated: url !== null };
  }
}

/** Runs `work` over `items` with at most `limit` in flight, results in order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
