// @ts-check
/**
 * Builds the dashboard (dashboard/src/main.ts, index.html, styles.css) into three strings, and
 * hands them to the Lambda that serves them as the virtual module `fma:dashboard-assets`.
 *
 * JavaScript rather than TypeScript because serverless-esbuild loads its plugins with a plain
 * `require` (serverless.yml: custom.esbuild.plugins), before any TypeScript loader could help.
 * Nothing is written to disk, so there is no generated file to forget to rebuild or commit:
 * every `serverless package`, `serverless offline` (npm start, the end-to-end tests) builds it.
 */
const { readFile } = require('node:fs/promises');
const path = require('node:path');
const esbuild = require('esbuild');

const root = __dirname;
const VIRTUAL_MODULE = 'fma:dashboard-assets';

/** @returns {Promise<{'index.html': string, 'app.js': string, 'styles.css': string, 'favicon.svg': string}>} */
async function buildDashboard() {
  const [script, html, css, icon] = await Promise.all([
    esbuild.build({
      entryPoints: [path.join(root, 'src', 'main.ts')],
      bundle: true,
      minify: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      legalComments: 'none',
      write: false,
      logLevel: 'silent',
    }),
    readFile(path.join(root, 'index.html'), 'utf8'),
    readFile(path.join(root, 'styles.css'), 'utf8').then((text) => esbuild.transform(text, { loader: 'css', minify: true })),
    readFile(path.join(root, 'favicon.svg'), 'utf8'),
  ]);
  const [bundle] = script.outputFiles;
  if (bundle === undefined) throw new Error('esbuild produced no dashboard bundle');
  return { 'index.html': html, 'app.js': bundle.text, 'styles.css': css.code, 'favicon.svg': icon };
}

/** The esbuild plugin that answers `import { assets } from 'fma:dashboard-assets'` with the built dashboard. */
function dashboardAssetsPlugin() {
  return {
    name: 'fma-dashboard-assets',
    /** @param {import('esbuild').PluginBuild} build */
    setup(build) {
      build.onResolve({ filter: /^fma:dashboard-assets$/ }, (args) => ({ path: args.path, namespace: 'fma-dashboard' }));
      build.onLoad({ filter: /.*/, namespace: 'fma-dashboard' }, async () => ({
        contents: `export const assets = ${JSON.stringify(await buildDashboard())};`,
        loader: 'js',
        watchDirs: [path.join(root, 'src')],
        watchFiles: ['index.html', 'styles.css', 'favicon.svg'].map((name) => path.join(root, name)),
      }));
    },
  };
}

module.exports = { buildDashboard, dashboardAssetsPlugin, VIRTUAL_MODULE };
