import { registerLocalExecutor } from '../lib/aggregation/start-run';

// Runs that handlers start in a test process with AGGREGATION_EXECUTOR=local (the API's triggers,
// POST /aggregation/run) run on the local executor, as under npm start (scripts/offline.ts). It
// is loaded on the first run only: most test files never start one.
registerLocalExecutor(async (input) => (await import('../functions/aggregation/local-executor')).executeAggregationLocally(input));
