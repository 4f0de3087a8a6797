/**
 * How long something took, in words that stay short: `840 ms`, `4.2 s`, `3 min 05 s`,
 * `1 h 02 min`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(seconds / 3_600)} h ${String(Math.floor((seconds % 3_600) / 60)).padStart(2, '0')} min`;
}

/** A run's status as the page says it. */
export function runStatusText(status: string): string {
  switch (status) {
    case 'RUNNING':
      return 'running';
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    case 'TIMED_OUT':
      return 'timed out (stale)';
    default:
      return status.toLowerCase();
  }
}

/** A run's error in one line: `CheckRequirement: RequirementError: unknown requirement ...`. */
export function runErrorText(error: { state?: string | null; error: string; cause: string | null } | null): string {
  if (error === null) return '';
  return [error.state, error.error, error.cause].filter((part) => part !== null && part !== undefined && part !== '').join(': ');
}
