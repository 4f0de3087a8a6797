// The plugins serverless-esbuild adds to every function's build (serverless.yml:
// custom.esbuild.plugins): the dashboard's page (only its handler imports the module that plugin
// provides), and two that keep large tables no function uses out of every bundle, since a
// function's cold start parses its whole bundle (bench/function-init.ts measures it).
const path = require('node:path');
const { dashboardAssetsPlugin } = require('../dashboard/build');

/**
 * zod's namespace object carries every locale (about 250 KiB of messages in 50 languages), so
 * nothing tree-shakes them; the service speaks English only. Its locales index becomes English alone.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => {
      if (!/[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)) return undefined;
      return { path: path.join(path.dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-locales' };
    });
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * The MongoDB driver parses connection strings with whatwg-url, whose Unicode tables (tr46, about
 * 280 KiB) load with it; Node's own URL is the same WHATWG URL, so the driver gets that one.
 */
const nodeUrlForWhatwgUrl = {
  name: 'node-url-for-whatwg-url',
  setup(build) {
    build.onResolve({ filter: /^whatwg-url$/ }, () => ({ path: 'whatwg-url', namespace: 'node-url' }));
    build.onLoad({ filter: /.*/, namespace: 'node-url' }, () => ({
      contents: 'module.exports = { URL: globalThis.URL, URLSearchParams: globalThis.URLSearchParams };',
      loader: 'js',
    }));
  },
};

module.exports = [dashboardAssetsPlugin(), zodEnglishOnly, nodeUrlForWhatwgUrl];
