/**
 * Model update status codes, numerically compatible with FMA (`PENDING=0` ... `INVALID=4`), so
 * that data and clients written against the original keep their meaning.
 */
export const UpdateStatus = {
  PENDING: 0,
  RUNNING: 1,
  COMPLETE: 2,
  FAILED: 3,
  INVALID: 4,
} as const;

export type UpdateStatus = (typeof UpdateStatus)[keyof typeof UpdateStatus];

export const UPDATE_STATUS_NAMES: Readonly<Record<UpdateStatus, keyof typeof UpdateStatus>> = {
  0: 'PENDING',
  1: 'RUNNING',
  2: 'COMPLETE',
  3: 'FAILED',
  4: 'INVALID',
};

/** Statuses from which an update may be claimed: new ones and failed ones (which are retried). */
export const CLAIMABLE_STATUSES: readonly UpdateStatus[] = [UpdateStatus.PENDING, UpdateStatus.FAILED];
