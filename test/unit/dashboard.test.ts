import { metricsOf, niceStep, scaleFor, suggestNextVersion } from '../../dashboard/src/chart-geometry';
import { ApiError, describeError, NetworkError } from '../../dashboard/src/errors';
import { apiBaseFor, nextPageUrl, parseLinkHeader } from '../../dashboard/src/links';
import { countBar, deadlineText, secureSettingsRows, secureStatusMeaning, stageRows } from '../../dashboard/src/secure-round-format';
import type { SecureRoundJson } from '../../dashboard/src/types';
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

describe("the dashboard's secure aggregation panel (pure parts)", () => {
  const round = (overrides: Partial<SecureRoundJson>): SecureRoundJson => ({
    round: 2,
    id: '7:2',
    federated_model: 7,
    status: 'advertising',
    stage_deadline: '2026-12-06T10:00:00.000Z',
    threshold: 3,
    participants: [],
    sharers: [],
    maskers: [],
    revealers: [],
    aggregate: null,
    failure_reason: null,
    ...overrides,
  });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `client-${i}`);
  const participants = (n: number) => ids(n).map((client, i) => ({ client, index: i + 1, c_public_key: 'x', s_public_key: 'y' }));
  const summary = (rows: ReturnType<typeof stageRows>) => rows.map((row) => [row.field, row.state, row.count, row.reached]);

  it("lists the model's settings", () => {
    expect(secureSettingsRows({ threshold: 6, clip_range: 1.5, bits: 16, max_weight: 1, stage_seconds: 300 })).toEqual([
      { field: 'threshold', label: 'Threshold', value: '6 clients' },
      { field: 'clip-range', label: 'Clip range', value: '±1.5' },
      { field: 'bits', label: 'Bits', value: '16' },
      { field: 'max-weight', label: 'Max weight', value: '1' },
      { field: 'stage-seconds', label: 'Stage seconds', value: '300 s (5 min 00 s)' },
    ]);
    expect(secureSettingsRows({ threshold: 2, clip_range: 1, bits: 12, max_weight: 1_000, stage_seconds: 45 })[4]!.value).toBe('45 s');
  });

  it('says when the open stage closes, relative to now, and nothing once no client stage is open', () => {
    const deadline = '2026-12-06T10:00:00.000Z';
    const at = (ms: number) => Date.parse(deadline) - ms;
    expect(deadlineText('advertising', deadline, at(42_000))).toBe('closes in 42 s');
    expect(deadlineText('sharing', deadline, at(41_600))).toBe('closes in 42 s');
    expect(deadlineText('masking', deadline, at(185_000))).toBe('closes in 3 min 05 s');
    expect(deadlineText('unmasking', deadline, at(-12_000))).toMatch(/^deadline passed 12 s ago: it closes at the next client call/);
    for (const status of ['summing', 'complete', 'failed']) expect(deadlineText(status, deadline, at(42_000))).toBeNull();
    expect(deadlineText('sharing', 'not a date', 0)).toBeNull();
    expect(secureStatusMeaning('sharing')).toBe('participants send their encrypted key shares');
    expect(secureStatusMeaning('complete')).toBe('');
  });

  it('counts the clients at each stage: closed stages counted against the threshold, the open one and later ones not yet', () => {
    const advertising = stageRows(round({}), 5);
    expect(summary(advertising)).toEqual([
      ['participants', 'open', null, null],
      ['sharers', 'later', null, null],
      ['maskers', 'later', null, null],
      ['revealers', 'later', null, null],
    ]);
    expect(advertising[0]!.note).toContain('all 5 members have advertised');
    const masking = stageRows(round({ status: 'masking', participants: participants(5), sharers: ids(4) }), 5);
    expect(summary(masking)).toEqual([
      ['participants', 'closed', 5, true],
      ['sharers', 'closed', 4, true],
      ['maskers', 'open', null, null],
      ['revealers', 'later', null, null],
    ]);
    expect(masking[2]!.note).toContain('all 4 have answered');
    const complete = round({ status: 'complete', participants: participants(5), sharers: ids(5), maskers: ids(4), revealers: ids(3), aggregate: 12 });
    expect(summary(stageRows(complete, 5)).map(([, state, count, reached]) => [state, count, reached])).toEqual([
      ['closed', 5, true],
      ['closed', 5, true],
      ['closed', 4, true],
      ['closed', 3, true],
    ]);
    expect(summary(stageRows(round({ status: 'summing', participants: participants(3), sharers: ids(3), maskers: ids(3), revealers: ids(3) }), 3))[3]).toEqual([
      'revealers',
      'closed',
      3,
      true,
    ]);
  });

  it('finds the stage a failed round failed in: the first list it never set', () => {
    const inMasking = stageRows(round({ status: 'failed', participants: participants(4), sharers: ids(4), failure_reason: 'only 2 of the 4 ...' }), 4);
    expect(summary(inMasking)).toEqual([
      ['participants', 'closed', 4, true],
      ['sharers', 'closed', 4, true],
      ['maskers', 'failed', null, null],
      ['revealers', 'later', null, null],
    ]);
    expect(inMasking[2]!.note).toBe('the round failed in masking');
    expect(stageRows(round({ status: 'failed' }), 4)[0]!.state).toBe('failed');
    // Failed in the sum: every list was set.
    const inSum = round({ status: 'failed', participants: participants(3), sharers: ids(3), maskers: ids(3), revealers: ids(3) });
    expect(stageRows(inSum, 3).map((row) => row.state)).toEqual(['closed', 'closed', 'closed', 'closed']);
    // A count below the threshold is marked so (a stage that closes holds at least the threshold: this is defensive).
    expect(stageRows(round({ status: 'sharing', participants: participants(2) }), 4)[0]!.reached).toBe(false);
  });

  it('draws a count as a bar with the threshold as a tick on one scale', () => {
    expect(countBar(5, 3, 10, 100)).toEqual({ bar: 50, tick: 30 });
    expect(countBar(0, 3, 10, 100)).toEqual({ bar: 0, tick: 30 });
    expect(countBar(1, 2, 1000, 100)).toEqual({ bar: 1, tick: 0 });
    // A scale smaller than the threshold or the count grows to fit them.
    expect(countBar(4, 6, 2, 120)).toEqual({ bar: 80, tick: 120 });
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
