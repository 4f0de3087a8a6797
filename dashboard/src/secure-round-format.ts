/**
 * What the secure aggregation panel says about a model's settings and its newest secure round
 * (docs/secure-aggregation-protocol.md). Pure functions (no DOM), unit-tested in Node
 * (test/unit/dashboard.test.ts). Clients are only ever counted here, never named, and public keys
 * are never read.
 */
import { formatDuration } from './run-format';
import type { SecureAggregationJson, SecureRoundJson, SecureRoundStatus } from './types';

/** The model's settings as label and value, in the order the protocol lists them. */
export function secureSettingsRows(settings: SecureAggregationJson): { field: string; label: string; value: string }[] {
  return [
    { field: 'threshold', label: 'Threshold', value: `${settings.threshold} clients` },
    { field: 'clip-range', label: 'Clip range', value: `±${settings.clip_range}` },
    { field: 'bits', label: 'Bits', value: String(settings.bits) },
    { field: 'max-weight', label: 'Max weight', value: String(settings.max_weight) },
    { field: 'stage-seconds', label: 'Stage seconds', value: stageSecondsText(settings.stage_seconds) },
  ];
}

function stageSecondsText(seconds: number): string {
  return seconds < 60 ? `${seconds} s` : `${seconds} s (${formatDuration(seconds * 1_000)})`;
}

/** What happens in a status, in a few words ('' for the two ends, which say it themselves). */
export function secureStatusMeaning(status: SecureRoundStatus | string): string {
  switch (status) {
    case 'advertising':
      return 'clients advertise their public keys';
    case 'sharing':
      return 'participants send their encrypted key shares';
    case 'masking':
      return 'sharers upload their masked inputs';
    case 'unmasking':
      return 'maskers reveal the shares that remove the masks';
    case 'summing':
      return 'an aggregation run sums the masked inputs';
    default:
      return '';
  }
}

const CLIENT_STAGES: readonly string[] = ['advertising', 'sharing', 'masking', 'unmasking'];

/** A time span for a deadline: whole seconds under a minute (`42 s`), `formatDuration` above. */
function span(ms: number): string {
  return ms < 60_000 ? `${Math.max(0, Math.round(ms / 1_000))} s` : formatDuration(ms);
}

/**
 * The stage deadline relative to `now`: `closes in 42 s`, or, past it, that it closes when next
 * noticed. Null when no client stage is open (summing, complete, failed): there is no deadline.
 */
export function deadlineText(status: string, deadlineIso: string, now: number): string | null {
  if (!CLIENT_STAGES.includes(status)) return null;
  const deadline = Date.parse(deadlineIso);
  if (Number.isNaN(deadline)) return null;
  const left = deadline - now;
  if (left > 0) return `closes in ${span(left)}`;
  return `deadline passed ${span(-left)} ago: it closes at the next client call or the schedule's check (each minute)`;
}

/** One stage's survivors: how many, and whether the stage has closed, is open, failed or is still to come. */
export interface StageRow {
  readonly field: 'participants' | 'sharers' | 'maskers' | 'revealers';
  readonly label: string;
  /** Null when the list is not known (its stage is open, failed, or not reached). */
  readonly count: number | null;
  readonly state: 'closed' | 'open' | 'failed' | 'later';
  /** Whether `count` reaches the threshold (null when no count). */
  readonly reached: boolean | null;
  readonly note: string;
}

const STAGE_LISTS = [
  { field: 'participants', stage: 'advertising', label: 'Participants (advertised keys)' },
  { field: 'sharers', stage: 'sharing', label: 'Sharers (sent encrypted shares)' },
  { field: 'maskers', stage: 'masking', label: 'Maskers (sent a masked input)' },
  { field: 'revealers', stage: 'unmasking', label: 'Revealers (revealed shares)' },
] as const;

/**
 * How many clients are at each stage. A list is set when its stage closes (the API shows
 * `participants` empty while advertising); a round that failed never sets the list of the stage it
 * failed in, and a stage that closes sets at least `threshold` (≥ 2) clients, so the first empty
 * list of a failed round is where it failed. `members`: the model's client count, which the open
 * advertising stage waits for.
 */
export function stageRows(round: SecureRoundJson, members: number): StageRow[] {
  const counts = [round.participants.length, round.sharers.length, round.maskers.length, round.revealers.length];
  const current = CLIENT_STAGES.indexOf(round.status);
  const failedAt = round.status === 'failed' ? counts.findIndex((count) => count === 0) : -1;
  return STAGE_LISTS.map(({ field, stage, label }, index): StageRow => {
    let state: StageRow['state'];
    if (round.status === 'failed') state = failedAt === -1 || index < failedAt ? 'closed' : index === failedAt ? 'failed' : 'later';
    else if (current === -1 || index < current) state = 'closed';
    else state = index === current ? 'open' : 'later';
    const count = state === 'closed' ? counts[index]! : null;
    const note =
      state === 'open'
        ? stage === 'advertising'
          ? `open: the participants are fixed when it closes (when all ${members} members have advertised, or at the deadline)`
          : `open: fixed when it closes (when all ${counts[index - 1]} have answered, or at the deadline)`
        : state === 'failed'
          ? `the round failed in ${stage}`
          : state === 'later'
            ? 'not reached'
            : '';
    return { field, label, count, state, reached: count === null ? null : count >= round.threshold, note };
  });
}

/**
 * A count as a bar `width` wide at `scale` clients, with the threshold's tick: both in pixels,
 * the bar at least 1 px when the count is not 0.
 */
export function countBar(count: number, threshold: number, scale: number, width: number): { bar: number; tick: number } {
  const top = Math.max(1, scale, threshold, count);
  const bar = count <= 0 ? 0 : Math.max(1, Math.round((width * count) / top));
  return { bar, tick: Math.round((width * threshold) / top) };
}
