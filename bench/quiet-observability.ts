// Imported first by benchmarks that call the connector in-process: the service's logs and metrics
// (one line per secure round's stage, per metric) would bury the figures. Set before
// lib/observability creates its logger and metrics; an explicit setting in the environment wins.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
