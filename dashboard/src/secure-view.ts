import type { Api } from './api';
import { ApiError, describeError } from './errors';
import { h, s, when } from './dom';
import { countBar, deadlineText, secureSettingsRows, secureStatusMeaning, stageRows } from './secure-round-format';
import type { ModelJson, SecureAggregationJson, SecureRoundJson } from './types';

/** The newest secure round, none yet (the API's 404), or why it could not be read. */
export type SecureRoundLoad = { round: SecureRoundJson } | { none: true } | { error: string };

/**
 * The model's newest secure round (`GET models/{id}/secure_round/`), for a model with
 * `secure_aggregation` only. A refused token or an unreachable service fails the page as every
 * other read does; any other error is said in the panel, and the rest of the page still shows.
 */
export async function loadSecureRound(api: Api, model: number): Promise<SecureRoundLoad> {
  try {
    return { round: await api.get<SecureRoundJson>(`models/${model}/secure_round/`) };
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) throw error;
    if (error.status === 404) return { none: true };
    return { error: `The newest secure round could not be read. ${describeError(error, location.origin)}` };
  }
}

/**
 * The secure aggregation panel: the model's settings, and its newest round (number, status, stage
 * deadline, how many clients are at each stage against the threshold, and the aggregate it wrote
 * or why it failed). Counts only: no client ids, no public keys.
 */
export function secureSection(model: ModelJson, settings: SecureAggregationJson, loaded: SecureRoundLoad, now = Date.now()): HTMLElement {
  return h(
    'section',
    { id: 'secure-aggregation' },
    h('h3', {}, 'Secure aggregation'),
    h(
      'table',
      { id: 'secure-settings' },
      h(
        'tbody',
        {},
        ...secureSettingsRows(settings).map((row) => h('tr', {}, h('th', {}, row.label), h('td', { 'data-field': row.field }, row.value))),
      ),
    ),
    'round' in loaded
      ? roundPanel(loaded.round, model.clients_count ?? model.clients.length, now)
      : 'none' in loaded
        ? h('p', { id: 'no-secure-round', class: 'muted' }, 'No secure round yet: the first key advertisement opens one.')
        : h('p', { id: 'secure-round-error', class: 'error', role: 'alert' }, loaded.error),
  );
}

function roundPanel(round: SecureRoundJson, members: number, now: number): HTMLElement {
  const deadline = deadlineText(round.status, round.stage_deadline, now);
  const meaning = secureStatusMeaning(round.status);
  const rows = stageRows(round, members);
  const scale = Math.max(members, round.participants.length);
  const BAR = 120;
  return h(
    'div',
    { id: 'secure-round', 'data-round': round.round, 'data-status': round.status },
    h('h4', {}, `Newest round: round ${round.round}`),
    h(
      'p',
      {},
      'Status ',
      h('strong', { 'data-field': 'status', class: `secure-${round.status}` }, round.status),
      meaning === '' ? null : h('span', { class: 'muted' }, ` (${meaning})`),
      deadline === null
        ? null
        : h('span', {}, ' · stage ', h('span', { 'data-field': 'deadline', title: when(round.stage_deadline) }, deadline)),
    ),
    h(
      'table',
      { id: 'secure-stages' },
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, 'Stage'), h('th', { class: 'num' }, 'Clients'), h('th', {}, `Threshold ${round.threshold}`), h('th', {}, '')),
      ),
      h(
        'tbody',
        {},
        ...rows.map((row) => {
          const { bar, tick } = countBar(row.count ?? 0, round.threshold, scale, BAR);
          return h(
            'tr',
            { 'data-stage': row.field, 'data-state': row.state },
            h('th', {}, row.label),
            h('td', { class: 'num', 'data-field': 'count' }, row.count ?? '—'),
            h(
              'td',
              { class: 'bar', 'data-field': 'threshold', 'data-threshold': round.threshold },
              s(
                'svg',
                { width: BAR, height: 12, 'aria-hidden': 'true' },
                s('rect', { width: bar, height: 8, y: 2, class: row.reached === false ? 'below' : null }),
                s('line', { x1: tick, x2: tick, y1: 0, y2: 12, class: 'threshold' }),
              ),
              row.reached === null ? null : row.reached ? ' ≥ threshold' : ' below threshold',
            ),
            h('td', { class: 'muted', 'data-field': 'note' }, row.note),
          );
        }),
      ),
    ),
    round.aggregate === null ? null : h('p', { id: 'secure-aggregate' }, 'It wrote aggregate ', aggregateLink(round.aggregate), '.'),
    round.failure_reason === null ? null : h('p', { id: 'secure-failure', class: 'error' }, `Failed: ${round.failure_reason}`),
  );
}

/** `#N`, as the lineage table names aggregates; picking it scrolls to that aggregate's row there. */
function aggregateLink(id: number): HTMLElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'link',
      'data-aggregate-id': id,
      title: 'Show it in the lineage',
      onclick: () => {
        const row = document.querySelector(`#aggregates tr[data-aggregate-id="${id}"]`);
        if (row === null) return;
        row.scrollIntoView({ block: 'center' });
        row.classList.add('picked');
      },
    },
    `#${id}`,
  );
}
