// Imported first by a test file that reads the logs: the service's logger takes its level from
// the environment when it is made (and goes back to it after each sampled invocation), so it is
// set before anything loads lib/observability. Jest gives each test file its own process.env.
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
