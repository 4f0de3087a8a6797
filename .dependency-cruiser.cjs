// The structure check (issue #30), run by `npm run lint` (and so by `npm test`): no import cycle,
// and every import in functions/ and lib/ points down the layer order the README's
// "Architecture" section describes. A module may import its own layer and the layers below it.
//
//   0 handlers        functions/
//   1 API and HTTP    lib/api, lib/http
//   2 operations      lib/connector, lib/aggregation, lib/uploads
//   3 storage         lib/store, lib/db
//   4 domain          lib/algorithms, lib/entities, lib/weights, lib/security, lib/secure-aggregation
//   5 foundations     lib/errors, lib/config.ts, lib/observability
//
// Type-only imports count too: a type that must be imported upwards belongs lower down.
const layers = [
  ['functions/'],
  ['lib/api/', 'lib/http/'],
  ['lib/connector/', 'lib/aggregation/', 'lib/uploads/'],
  ['lib/store/', 'lib/db/'],
  ['lib/algorithms/', 'lib/entities/', 'lib/weights/', 'lib/security/', 'lib/secure-aggregation/'],
  ['lib/errors/', 'lib/config\\.ts$', 'lib/observability/'],
];
const pattern = (paths) => `^(${paths.join('|')})`;

const layerRules = layers.slice(1).map((paths, i) => ({
  name: `layer-${i + 1}-imports-upwards`,
  comment: `${paths.join(', ')} may not import a layer above it (${layers.slice(0, i + 1).flat().join(', ')})`,
  severity: 'error',
  from: { path: pattern(paths) },
  to: { path: pattern(layers.slice(0, i + 1).flat()) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: the modules in it can no longer be read, tested or moved one at a time.',
      severity: 'error',
      from: { path: '^(functions|lib)/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'connector-interface-imports-implementation',
      comment:
        'The connector interface (and what it is declared with) must not import its MongoDB implementation: ' +
        'implementations import the interface, never the other way round.',
      severity: 'error',
      from: { path: '^lib/connector/[^/]+\\.ts$', pathNot: '^lib/connector/(mongo-metadata-connector|factory|index)\\.ts$' },
      to: { path: '^lib/connector/mongo/' },
    },
    {
      name: 'deployed-code-imports-tests-or-tools',
      comment: 'Deployed code (functions/, lib/) must not import tests, benches or scripts.',
      severity: 'error',
      from: { path: '^(functions|lib)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'api-imports-local-executor',
      comment:
        'The local executor (aws-local-stepfunctions, the state machine JSON, every aggregation task) runs only ' +
        'under npm start and the tests; no deployed handler may import it.',
      severity: 'error',
      from: { path: '^(functions|lib)/', pathNot: '^functions/aggregation/local-executor\\.ts$' },
      to: { path: '^functions/aggregation/local-executor\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|sdk|dashboard|clients|examples)/' },
  },
};
