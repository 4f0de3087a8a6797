/**
 * Jest runs TypeScript through @swc/jest (fast, no type-check: `npm test` runs `tsc --noEmit`
 * first). middy 6 ships ESM only, so it is transformed too.
 * The global setup resolves the test database once (see scripts/database/resolve-database.ts);
 * each test file then works in a database of its own, so files run in parallel.
 * @type {import('jest').Config}
 */
module.exports = {
  // Node's, with per-file environment variables from the docblock (test/environment.js).
  testEnvironment: '<rootDir>/test/environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[tj]sx?$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  // The local executor, for runs that handlers start in the test process (no deployed bundle has it).
  setupFiles: ['<rootDir>/test/setup-local-executor.ts'],
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  testTimeout: 60_000,
  // Leave a core for the database server and serverless-offline.
  maxWorkers: 2,
};
