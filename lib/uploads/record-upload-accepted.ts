import type { ModelUpdate } from '../entities';
import { appendCorrelationKeys, MetricName, MetricUnit, recordMetric } from '../observability';

/** Counts a binary update that became an update, and its bytes; names it on the invocation's log lines. */
export function recordUploadAccepted(update: ModelUpdate): void {
  appendCorrelationKeys({ model: update.federatedModel, update: update.id });
  recordMetric(MetricName.UpdatesAccepted);
  recordMetric(MetricName.BytesUploaded, update.weights.byteSize, MetricUnit.Bytes);
}
