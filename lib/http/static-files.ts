import { createHash } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** A file served as it is (the dashboard's page, script and stylesheet). */
export interface StaticFile {
  readonly contentType: string;
  readonly body: string;
}

/**
 * Headers on every static answer. The policy lets the page load scripts, styles and data from its
 * own origin only: no inline script or style (so an injected `<script>` or `style=` does nothing),
 * no framing, no plugins, no form posts; `no-referrer` keeps its URL out of other sites' logs.
 * `no-cache` makes browsers revalidate (ETag) so a deploy is seen at once.
 */
export const STATIC_SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
} as const;

const etags = new WeakMap<StaticFile, string>();

/** A strong ETag: the SHA-256 of the body (computed once per file and container). */
export function etagOf(file: StaticFile): string {
  let etag = etags.get(file);
  if (etag === undefined) {
    etag = `"${createHash('sha256').update(file.body).digest('base64url')}"`;
    etags.set(file, etag);
  }
  return etag;
}

/**
 * The HTTP answer for a static file: 200 with the body, 304 when `If-None-Match` names its ETag,
 * 404 (plain text) when there is no such file; the security headers always.
 */
export function staticFileResponse(file: StaticFile | undefined, ifNoneMatch?: string): APIGatewayProxyStructuredResultV2 {
  if (file === undefined) {
    return { statusCode: 404, headers: { ...STATIC_SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' }, body: 'Not found.' };
  }
  const etag = etagOf(file);
  const headers = { ...STATIC_SECURITY_HEADERS, 'Content-Type': file.contentType, ETag: etag };
  const matches = ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*') === true;
  return matches ? { statusCode: 304, headers, body: '' } : { statusCode: 200, headers, body: file.body };
}
