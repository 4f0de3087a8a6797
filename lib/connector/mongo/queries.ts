import { createHash } from 'node:crypto';
import type { Collection, Document, Filter } from 'mongodb';
import type { StatusChange } from '../../entities';
import type { Page, Paged } from '../metadata-connector';

/** How many status transitions each update keeps (MongoDB trims with `$slice`). */
export const STATUS_HISTORY_LENGTH = 20;

/** Id sequences (counters) per entity. */
export const Sequence = {
  models: 'federated_models',
  updates: 'model_updates',
  aggregates: 'model_aggregates',
  artifacts: 'model_artifacts',
  scores: 'client_aggregate_scores',
} as const;

/**
 * One batch for a whole id list: its documents are projected to an id and a number (tens of
 * bytes each), so even 100,000 of them fit in one reply, saving a getMore round trip per 101.
 * One more than the list, so that the first batch is not exactly full: a full batch leaves the
 * server's cursor open (on FerretDB holding a PostgreSQL connection) and costs a getMore to close.
 */
export function idBatchSize(ids: readonly number[]): number {
  return ids.length + 1;
}

/** A `$push` that appends one status change and keeps the last STATUS_HISTORY_LENGTH. */
export function historyEntry(change: StatusChange) {
  return { statusHistory: { $each: [change], $slice: -STATUS_HISTORY_LENGTH } };
}

/** Splits `ids` (sorted) into those found in `hit` and the rest. */
export function splitIds<T>(ids: number[], hit: { _id: number }[], build: (hit: number[], miss: number[]) => T): T {
  const hits = new Set(hit.map((document) => document._id));
  const sorted = [...ids].sort((a, b) => a - b);
  return build(
    sorted.filter((id) => hits.has(id)),
    sorted.filter((id) => !hits.has(id)),
  );
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function uniqueStrings(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** One page of a listing, newest first (creation time, then id) unless `page.order` is `oldest`, with the total count. */
export async function newestFirstPage<D extends Document & { _id: number | string }, T>(
  collection: Collection<D>,
  query: Filter<D>,
  projection: Document,
  page: Page,
  toEntity: (document: D) => T,
): Promise<Paged<T>> {
  const [count, found] = await Promise.all([
    collection.countDocuments(query),
    collection
      .find(query, { projection })
      .sort(page.order === 'oldest' ? { createdOn: 1, _id: 1 } : { createdOn: -1, _id: -1 })
      .skip((page.page - 1) * page.pageSize)
      .limit(page.pageSize)
      .toArray(),
  ]);
  return { count, items: (found as D[]).map(toEntity) };
}
