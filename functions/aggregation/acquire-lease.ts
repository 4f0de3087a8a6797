import { z } from 'zod';
import { Id, Run } from '../../lib/api/operation-fields';
import { getConfig } from '../../lib/config';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';
import { MetricName, recordMetric } from '../../lib/observability';

export const input = z.strictObject({ model: Id, run: Run });

/**
 * Takes the model's aggregation lease for the run (first state of the state machine). When a dead
 * run's lease has expired, the updates it left RUNNING are settled first: completed if it wrote
 * its aggregate, else returned to the pool with one more failed attempt.
 */
export const handler = createHandler({ input }, async ({ model, run }) => {
  const config = getConfig();
  const lease = await getConnector().acquireAggregationLease(model, run, config.AGGREGATION_LEASE_SECONDS, {
    maxAttempts: config.AGGREGATION_MAX_ATTEMPTS,
  });
  if (!lease.acquired) recordMetric(MetricName.LeaseConflicts);
  return {
    acquired: lease.acquired,
    held_by: lease.heldBy,
    expires_at: lease.expiresAt.toISOString(),
    recovered: lease.recovered,
  };
});
