import { metricsOf, niceStep, scaleFor, suggestNextVersion } from '../../dashboard/src/chart-geometry';
import { ApiError, describeError, NetworkError } from '../../dashboard/src/errors';
import { apiBaseFor, nextPageUrl, parseLinkHeader } from '../../dashboard/src/links';
import { STATIC_SECURITY_HEADERS, etagOf, staticFileResponse } from '../../lib/http/static-files';

describe('the dashboard\'s pure parts', () => {
  it('finds the API beside the page, under a stage prefix too', () => {
    expect(apiBaseFor('http://127.0.0.1:3000/dashboard').href).toBe('http://127.0.0.1:3000/api/v1/');
    expect(apiBaseFor('http://127.0.0.1:3000/dashboard#/models/3').href).toBe('http://127.0.0.1:3000/api/v1/');
    expect(apiBaseFor('http://127.0.0.1:3000/dashboard/').href).toBe('http://127.0.0.1:3000/api/v1/');
    expect(apiBaseFor('https://h.example/dev/dashboard/#/models/3').href).toBe('https://h.example/dev/api/v1/');
    expect(apiBaseFor('https://abc.execute-api.us-east-1.amazonaws.com/dev/dashboard').href).toBe(
      'https://abc.execute-api.us-east-1.amazonaws.com/dev/api/v1/',
    );
  });

  it('follows rel="next" with the server\'s query on the page\'s own path', () => {
    const header =
      '</api/v1/model_updates/?federated_model=1&page=2>; rel="next", </api/v1/model_updates/?federated_model=1&page=1>; rel="first"';
    expect(parseLinkHeader(header)).toEqual({
      next: '/api/v1/model_updates/?federated_model=1&page=2',
      first: '/api/v1/model_updates/?federated_model=1&page=1',
    });
    const current = new URL('https://x.example/dev/api/v1/model_updates/?federated_model=1');
    expect(nextPageUrl(current, header)?.href).toBe('https://x.example/dev/api/v1/model_updates/?federated_model=1&page=2');
    expect(nextPageUrl(current, '</api/v1/model_updates/?page=1>; rel="first"')).toBeNull();
    expect(nextPageUrl(current, null)).toBeNull();
  });

  it('scales points so that higher values sit higher, with round ticks around the data', () => {
    const frame = { width: 200, height: 120, left: 10, right: 10, top: 10, bottom: 10 };
    const scale = scaleFor([{ name: 'a', points: [{ x: 1, y: 0.61 }, { x: 3, y: 0.83 }] }], frame);
    // 0.22 / 4 = 0.055 rounds up to a step of 0.1
    expect(scale.yTicks).toEqual([0.6, 0.7, 0.8, 0.9]);
    expect(scale.px(1)).toBe(10);
    expect(scale.px(3)).toBe(190);
    expect(scale.py(0.6)).toBeCloseTo(110);
    expect(scale.py(0.9)).toBeCloseTo(10);
    expect(scale.py(0.83)).toBeLessThan(scale.py(0.61));
    // One point: in the middle, inside the frame, not on an edge.
    const single = scaleFor([{ name: 'a', points: [{ x: 1, y: 5 }] }], frame);
    expect(single.px(1)).toBe(100);
    expect(single.py(5)).toBeGreaterThan(10);
    expect(single.py(5)).toBeLessThan(110);
    expect([niceStep(0.055), niceStep(3), niceStep(0), niceStep(Number.NaN)]).toEqual([0.1, 5, 1, 1]);
  });

  it('reads numeric metrics from validation results and suggests the next version', () => {
    expect(metricsOf({ accuracy: 0.9, loss: 0.1, note: 'x', nested: { a: 1 } })).toEqual({ accuracy: 0.9, loss: 0.1 });
    expect(metricsOf(0.7)).toEqual({ value: 0.7 });
    expect(metricsOf([1, 2])).toEqual({});
    expect(metricsOf(null)).toEqual({});
    expect(suggestNextVersion('1.0.0')).toBe('1.1.0');
    expect(suggestNextVersion('2.9.3')).toBe('2.10.0');
    expect(suggestNextVersion('v1')).toBe('');
    expect(suggestNextVersion(undefined)).toBe('');
  });

  it('puts errors in plain words, with the API\'s own message', () => {
    expect(describeError(new ApiError(401, { detail: 'Invalid token.' }), 'http://h')).toBe(
      'The service did not accept this token (401 Unauthorized). Paste your developer token again. The service said: “Invalid token.”',
    );
    expect(describeError(new ApiError(400, { version: ['Federated model 1 already has an artifact version 1.0.0'] }), 'http://h')).toContain(
      'version: Federated model 1 already has an artifact version 1.0.0',
    );
    expect(describeError(new NetworkError('Failed to fetch'), 'http://h')).toContain('Could not reach the service at http://h');
    expect(describeError(new ApiError(503, ''), 'http://h')).toBe('The service failed (503); try again in a moment.');
  });
});

describe('static files (the dashboard\'s Lambda)', () => {
  const page = { contentType: 'text/html; charset=utf-8', body: '<!doctype html><p>hi</p>' };

  it('answers a file with its type, an ETag and the security headers', () => {
    const response = staticFileResponse(page);
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(page.body);
    expect(response.headers).toMatchObject({ ...STATIC_SECURITY_HEADERS, 'Content-Type': page.contentType, ETag: etagOf(page) });
    const csp = String(response.headers!['Content-Security-Policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers!['Referrer-Policy']).toBe('no-referrer');
    expect(response.headers!['X-Content-Type-Options']).toBe('nosniff');
  });

  it('answers 304 when If-None-Match names the ETag, and the body otherwise', () => {
    expect(staticFileResponse(page, etagOf(page))).toMatchObject({ statusCode: 304, body: '' });
    expect(staticFileResponse(page, `"other", W/${etagOf(page)}`)).toMatchObject({ statusCode: 304 });
    expect(staticFileResponse(page, '"other"')).toMatchObject({ statusCode: 200, body: page.body });
  });

  it('answers 404 with the security headers for a file it does not have', () => {
    const response = staticFileResponse(undefined);
    expect(response.statusCode).toBe(404);
    expect(response.headers).toMatchObject(STATIC_SECURITY_HEADERS);
  });
});

describe('the dashboard bundle (dashboard/build.js)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- plain CommonJS that serverless-esbuild loads
  const { buildDashboard } = require('../../dashboard/build.js') as { buildDashboard: () => Promise<Record<string, string>> };

  it('stays small and loads nothing from elsewhere', async () => {
    const assets = await buildDashboard();
    expect(Object.keys(assets).sort()).toEqual(['app.js', 'favicon.svg', 'index.html', 'styles.css']);
    expect(Buffer.byteLength(assets['app.js']!)).toBeLessThan(40_000);
    expect(Object.values(assets).reduce((sum, body) => sum + Buffer.byteLength(body), 0)).toBeLessThan(50_000);
    // No CDN scripts, fonts or stylesheets: the only absolute URLs are XML namespaces.
    for (const [name, body] of Object.entries(assets)) {
      const urls = (body.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"')]*/gi) ?? []).filter((url) => !url.startsWith('http://www.w3.org/'));
      expect({ name, urls }).toEqual({ name, urls: [] });
    }
    expect(assets['styles.css']).not.toMatch(/@import|url\(/);
    // No inline script or style for the CSP to refuse.
    expect(assets['index.html']).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
  });
});
