import { TooManyRequestsError } from '../../errors';
import type { RateLimit } from '../metadata-connector';
import type { ConnectorContext } from './context';

// Per-source limits that API Gateway cannot set: an HTTP API throttles a stage or a route, never
// one caller (README: Limits on input). Fixed windows, one document each, counted with one atomic
// `$inc` upsert, so concurrent requests from one source are all counted and the limit holds.

/**
 * Counts one request of `action` from `source` in the current window and refuses it (429, with
 * `Retry-After` until the window ends) when the window already holds `limit.max`. A limit of 0
 * is no limit.
 */
export async function countRequestFromSource(
  context: ConnectorContext,
  action: string,
  source: string,
  limit: RateLimit,
  now: Date = new Date(),
): Promise<void> {
  if (limit.max === 0) return;
  const windowMs = limit.windowSeconds * 1_000;
  const start = Math.floor(now.getTime() / windowMs) * windowMs;
  const expiresAt = new Date(start + windowMs);
  const { rateLimits } = await context.collections();
  const window = await rateLimits.findOneAndUpdate(
    { _id: `${action}/${source}/${start}` },
    { $inc: { count: 1 }, $setOnInsert: { expiresAt } },
    { upsert: true, returnDocument: 'after' },
  );
  if ((window?.count ?? 1) <= limit.max) return;
  throw new TooManyRequestsError(
    `Too many requests to ${action} from this address: at most ${limit.max} every ${limit.windowSeconds} s. Retry after the window ends.`,
    (expiresAt.getTime() - now.getTime()) / 1_000,
  );
}

/** Deletes the windows that have ended (what the TTL index does on MongoDB; FerretDB v1 has none). */
export async function deleteEndedRateLimitWindows(context: ConnectorContext, now: Date): Promise<number> {
  const { rateLimits } = await context.collections();
  const { deletedCount } = await rateLimits.deleteMany({ expiresAt: { $lte: now } });
  return deletedCount;
}
