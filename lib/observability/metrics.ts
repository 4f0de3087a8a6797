import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, SERVICE_NAME } from './logger';

/**
 * The service's metrics, written as CloudWatch embedded metric format lines at the end of each
 * invocation (no API call): one namespace (POWERTOOLS_METRICS_NAMESPACE, else `FmaServerless`),
 * the `service` dimension, and a second dimension only where it names a small set of values (the
 * reason an update was refused, a run's trigger).
 */
export const metrics = new Metrics({ namespace: 'FmaServerless', serviceName: SERVICE_NAME, logger });

/** Every metric the service emits (README: Runbook says what each one means). */
export const MetricName = {
  UpdatesAccepted: 'UpdatesAccepted',
  UpdatesRefused: 'UpdatesRefused',
  BytesUploaded: 'BytesUploaded',
  RunsStarted: 'RunsStarted',
  RunsAggregated: 'RunsAggregated',
  RunsNothingToDo: 'RunsNothingToDo',
  RunsFailed: 'RunsFailed',
  RunDuration: 'RunDuration',
  UpdatesPerRun: 'UpdatesPerRun',
  BytesAggregatedPerSecond: 'BytesAggregatedPerSecond',
  ShardsPerRun: 'ShardsPerRun',
  LeaseConflicts: 'LeaseConflicts',
  UpdatesRetried: 'UpdatesRetried',
  UpdatesInvalidated: 'UpdatesInvalidated',
  OldestPendingUpdateAge: 'OldestPendingUpdateAge',
  SecureStagesClosed: 'SecureStagesClosed',
  SecureRoundsEnded: 'SecureRoundsEnded',
} as const;

export type MetricName = (typeof MetricName)[keyof typeof MetricName];

export { MetricUnit };
type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/** Adds to a metric of this invocation (published when it ends). */
export function recordMetric(name: MetricName, value = 1, unit: Unit = MetricUnit.Count): void {
  metrics.addMetric(name, unit, value);
}

/** A metric with one more dimension of few values (published at once, on its own line). */
export function recordMetricBy(name: MetricName, dimension: string, dimensionValue: string, value = 1, unit: Unit = MetricUnit.Count): void {
  const single = metrics.singleMetric();
  single.addDimension(dimension, dimensionValue);
  single.addMetric(name, unit, value);
}
