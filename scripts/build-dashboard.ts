/**
 * `npm run dashboard:size`: builds the dashboard as its Lambda serves it and prints each file's
 * size, raw and gzipped (the figures in the README). The build itself happens inside
 * `serverless package` and `serverless offline` (dashboard/build.js); this only measures it.
 */
import { gzipSync } from 'node:zlib';

// dashboard/build.js is CommonJS that the Serverless Framework requires directly.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a plain JS module without types
const { buildDashboard } = require('../dashboard/build.js') as {
  buildDashboard: () => Promise<Record<string, string>>;
};

async function main(): Promise<void> {
  const assets = await buildDashboard();
  let raw = 0;
  let gzipped = 0;
  for (const [name, body] of Object.entries(assets)) {
    const size = Buffer.byteLength(body);
    const gz = gzipSync(body, { level: 9 }).length;
    raw += size;
    gzipped += gz;
    console.log(`${name.padEnd(12)} ${String(size).padStart(7)} bytes  ${String(gz).padStart(6)} gzipped`);
  }
  console.log(`${'total'.padEnd(12)} ${String(raw).padStart(7)} bytes  ${String(gzipped).padStart(6)} gzipped`);
}

void main();
