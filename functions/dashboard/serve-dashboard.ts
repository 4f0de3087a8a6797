import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { assets } from 'fma:dashboard-assets';
import { headerValue } from '../../lib/http/events';
import { staticFileResponse, type StaticFile } from '../../lib/http/static-files';

/** The page and its files, by the path's last segment (`GET /dashboard`, `GET /dashboard/{file+}`). */
const FILES: Readonly<Record<string, StaticFile>> = {
  '': { contentType: 'text/html; charset=utf-8', body: assets['index.html'] },
  'app.js': { contentType: 'text/javascript; charset=utf-8', body: assets['app.js'] },
  'styles.css': { contentType: 'text/css; charset=utf-8', body: assets['styles.css'] },
  'favicon.svg': { contentType: 'image/svg+xml', body: assets['favicon.svg'] },
};

/**
 * `GET /dashboard`: the developers' dashboard (dashboard/), a static page whose script calls the
 * `/api/v1` routes with the developer's token. This function reads no data and holds no secret.
 */
export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  // Opened as /dashboard/ (serverless-offline hands that to this function as /dashboard), the
  // page's relative URLs ask for /dashboard/dashboard/app.js: the same file.
  const name = (event.pathParameters?.file ?? '').replace(/^dashboard\//, '');
  return staticFileResponse(Object.hasOwn(FILES, name) ? FILES[name] : undefined, headerValue(event, 'if-none-match'));
}
