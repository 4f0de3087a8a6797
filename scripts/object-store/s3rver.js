// Serves a throwaway S3-compatible store with s3rver (npm) in a temporary directory: the fallback
// for machines without Go (see resolve-object-store.ts). Listens on 127.0.0.1 on a free port,
// prints `S3_ENDPOINT=<url>` once it accepts connections, and exits, removing its directory, on
// SIGINT/SIGTERM or when its standard input closes (it never outlives the process that started it).
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const S3rver = require('s3rver');

const directory = mkdtempSync(path.join(tmpdir(), 'fma-s3rver-'));
const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
let exiting = false;
const exit = (code) => {
  if (exiting) return;
  exiting = true;
  rmSync(directory, { recursive: true, force: true });
  process.exit(code);
};
process.on('SIGINT', () => exit(0));
process.on('SIGTERM', () => exit(0));
process.stdin.on('end', () => exit(0));
process.stdin.on('error', () => exit(0));
process.stdin.resume();
server.run().then(
  (address) => console.log(`S3_ENDPOINT=http://127.0.0.1:${address.port}`),
  (error) => {
    console.error('s3rver:', error);
    exit(1);
  },
);
