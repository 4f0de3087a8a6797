/**
 * Writes the OpenAPI description generated from the handlers' zod schemas to openapi/openapi.json
 * (committed, and served at GET /api/v1/openapi.json). Run it after changing a route:
 *
 *   npm run openapi
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateOpenApiDocument, OPENAPI_FILE, openApiText } from './openapi/generate';

const path = resolve(__dirname, '..', OPENAPI_FILE);
generateOpenApiDocument().then(
  (document) => {
    writeFileSync(path, openApiText(document));
    console.log(`wrote ${OPENAPI_FILE}`);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
