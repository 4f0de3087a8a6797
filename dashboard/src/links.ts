/**
 * Where the API is, and how its lists page. Pure functions (no DOM), so they are unit-tested in
 * Node (test/unit/dashboard-logic.test.ts).
 */

/**
 * The API's base URL, derived from the page's own address, so that a stage prefix works:
 * `http://127.0.0.1:3000/dashboard` → `http://127.0.0.1:3000/api/v1/`;
 * `https://x.execute-api.../dev/dashboard` → `https://x.execute-api.../dev/api/v1/`.
 */
export function apiBaseFor(pageUrl: string): URL {
  const page = new URL(pageUrl);
  // Opened as .../dashboard/ the API is still beside the dashboard, not under it.
  page.pathname = page.pathname.replace(/\/dashboard\/$/, '/dashboard');
  return new URL('api/v1/', new URL('.', page));
}

/** The links of an RFC 8288 `Link` header by relation: `{next: '/api/v1/...?page=2', ...}`. */
export function parseLinkHeader(header: string | null): Record<string, string> {
  const links: Record<string, string> = {};
  if (header === null) return links;
  for (const match of header.matchAll(/<([^>]*)>\s*;\s*rel="?([^";,]+)"?/g)) {
    for (const rel of match[2]!.trim().split(/\s+/)) links[rel] = match[1]!;
  }
  return links;
}

/**
 * The URL of the next page: the query of the `rel="next"` link on the URL just fetched. Only the
 * query is taken from the server's link, whose path may lack the stage prefix the page sees.
 */
export function nextPageUrl(current: URL, linkHeader: string | null): URL | null {
  const next = parseLinkHeader(linkHeader).next;
  if (next === undefined) return null;
  const url = new URL(current.href);
  url.search = new URL(next, current).search;
  return url;
}
