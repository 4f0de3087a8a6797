// `npm run build` (and `npm pack`, through prepack): dist/esm and dist/cjs, each JavaScript with
// declaration files, by tsc. The CommonJS folder gets a package.json of its own, since this
// package is "type": "module" and its .js files would otherwise be read as ES modules.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(new URL('dist', import.meta.url), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { cwd: here, stdio: 'inherit' });
}
mkdirSync(new URL('dist/cjs', import.meta.url), { recursive: true });
writeFileSync(new URL('dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n');
