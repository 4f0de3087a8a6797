import type { Api } from './api';
import { describeError } from './errors';
import { h, s, show, when } from './dom';
import { formatDuration, runErrorText, runStatusText } from './run-format';
import type { RunDetailJson, RunJson } from './types';

/** How many of a model's runs the page lists (the route's default page). */
const RECENT_RUNS = 20;

export interface ModelRuns {
  readonly recent: RunJson[];
  /** How many runs the model has in all (kept 30 days). */
  readonly total: number;
  readonly running: RunJson[];
}

/** The model's newest runs and those going now: two requests (`GET models/{id}/runs/`). */
export async function loadRuns(api: Api, model: number): Promise<ModelRuns> {
  const [recent, running] = await Promise.all([
    api.all<RunJson>(`models/${model}/runs/`, {}, { pageSize: RECENT_RUNS, maxPages: 1 }),
    api.all<RunJson>(`models/${model}/runs/`, { status: 'RUNNING' }, { pageSize: 100, maxPages: 1 }),
  ]);
  return { recent: recent.items, total: recent.total, running: running.items };
}

/**
 * The model's aggregation runs: what is running now (for how long, after which state), the recent
 * runs (trigger, start, duration, status, final state, updates claimed, why one failed), and the
 * states of the run picked, each with how long it took.
 */
export function runsSection(api: Api, model: number, runs: ModelRuns): HTMLElement {
  const detail = h('div', { id: 'run-detail', 'aria-live': 'polite' });
  const pick = (name: string) => {
    show(detail, h('p', { class: 'muted' }, `Loading run ${name}…`));
    api.get<RunDetailJson>(`models/${model}/runs/${encodeURIComponent(name)}/`).then(
      (run) => show(detail, runDetail(run)),
      (error: unknown) => show(detail, h('p', { class: 'error', role: 'alert' }, `Run ${name} could not be read. ${describeError(error, location.origin)}`)),
    );
  };
  return h(
    'section',
    { id: 'runs' },
    h('h3', {}, 'Running now'),
    runningTable(runs.running, pick),
    h('h3', {}, 'Aggregation runs, newest first'),
    recentTable(runs.recent, pick),
    runs.total > runs.recent.length ? h('p', { class: 'muted' }, `The ${runs.recent.length} newest of ${runs.total} runs (runs are kept 30 days).`) : null,
    detail,
  );
}

function nameButton(run: RunJson, pick: (name: string) => void): HTMLElement {
  return h('button', { type: 'button', class: 'link', 'data-run-name': run.name, title: 'Show its states', onclick: () => pick(run.name) }, run.name);
}

function runningTable(running: RunJson[], pick: (name: string) => void): HTMLElement {
  if (running.length === 0) return h('p', { id: 'no-running-runs', class: 'muted' }, 'No run is going now.');
  return h(
    'table',
    { id: 'running-runs' },
    h('thead', {}, h('tr', {}, ...['Run', 'Trigger', 'Started', 'Running for', 'Last state reported', 'Updates claimed'].map((title) => h('th', {}, title)))),
    h(
      'tbody',
      {},
      ...running.map((run) =>
        h(
          'tr',
          { 'data-run-name': run.name },
          h('td', { 'data-field': 'name' }, nameButton(run, pick)),
          h('td', { 'data-field': 'trigger' }, run.trigger),
          h('td', { 'data-field': 'started' }, when(run.started_at)),
          h('td', { class: 'num', 'data-field': 'running-for', 'data-ms': run.duration_ms }, formatDuration(run.duration_ms)),
          h('td', { 'data-field': 'last-state' }, run.last_state ?? '(none yet)'),
          h('td', { class: 'num', 'data-field': 'claimed' }, run.claimed ?? '—'),
        ),
      ),
    ),
  );
}

function recentTable(recent: RunJson[], pick: (name: string) => void): HTMLElement {
  if (recent.length === 0) return h('p', { id: 'no-runs', class: 'muted' }, 'No aggregation run yet.');
  return h(
    'table',
    { id: 'runs-table' },
    h(
      'thead',
      {},
      h('tr', {}, ...['Run', 'Trigger', 'Started', 'Duration', 'Status', 'Final state', 'Updates claimed', 'Error'].map((title) => h('th', {}, title))),
    ),
    h(
      'tbody',
      {},
      ...recent.map((run) =>
        h(
          'tr',
          { 'data-run-name': run.name, 'data-status': run.status },
          h('td', { 'data-field': 'name' }, nameButton(run, pick)),
          h('td', { 'data-field': 'trigger' }, run.trigger),
          h('td', { 'data-field': 'started' }, when(run.started_at)),
          h('td', { class: 'num', 'data-field': 'duration', 'data-ms': run.duration_ms }, formatDuration(run.duration_ms)),
          h('td', { 'data-field': 'status', class: `run-${run.status.toLowerCase()}` }, runStatusText(run.status)),
          h('td', { 'data-field': 'final-state' }, run.final_state ?? (run.last_state === null ? '' : `after ${run.last_state}`)),
          h('td', { class: 'num', 'data-field': 'claimed' }, run.claimed ?? '—'),
          h('td', { 'data-field': 'error' }, runErrorText(run.error)),
        ),
      ),
    ),
  );
}

/** One run: its Task states in order, how long each took (a bar scaled to the longest), and what each threw. */
function runDetail(run: RunDetailJson): HTMLElement {
  const longest = Math.max(1, ...run.states.map((state) => state.duration_ms));
  const BAR = 160;
  return h(
    'div',
    { 'data-run-name': run.name },
    h('h4', {}, `Run ${run.name}`),
    h(
      'p',
      { id: 'run-summary' },
      `${runStatusText(run.status)} · ${run.final_state ?? `last state reported: ${run.last_state ?? 'none'}`} · started ${when(run.started_at)} · `,
      run.stopped_at === null ? `running for ${formatDuration(run.duration_ms)}` : `took ${formatDuration(run.duration_ms)}`,
      run.error === null ? null : h('span', { id: 'run-error', class: 'run-failed' }, ` · ${runErrorText(run.error)}`),
    ),
    run.states.length === 0
      ? h('p', { class: 'muted' }, 'No state has reported yet.')
      : h(
          'table',
          { id: 'run-states' },
          h('thead', {}, h('tr', {}, ...['#', 'State', 'Began', 'Took', '', 'Error'].map((title) => h('th', {}, title)))),
          h(
            'tbody',
            {},
            ...run.states.map((state, index) =>
              h(
                'tr',
                { 'data-state': state.state },
                h('td', { class: 'num' }, index + 1),
                h('td', { 'data-field': 'state' }, state.state),
                h('td', { 'data-field': 'began' }, when(state.entered_at)),
                h('td', { class: 'num', 'data-field': 'duration', 'data-ms': state.duration_ms }, formatDuration(state.duration_ms)),
                h(
                  'td',
                  { class: 'bar' },
                  s('svg', { width: BAR, height: 10, 'aria-hidden': 'true' }, s('rect', { width: Math.max(1, (BAR * state.duration_ms) / longest), height: 10 })),
                ),
                h('td', { 'data-field': 'error' }, state.error === null ? '' : runErrorText(state.error)),
              ),
            ),
          ),
        ),
    run.states_dropped > 0 ? h('p', { class: 'muted' }, `${run.states_dropped} later states were not kept (a run keeps 64).`) : null,
    h('p', { class: 'muted' }, 'Choice, Succeed and Fail states take no time and are not listed; a sharded run\'s shards are the time between their neighbours.'),
  );
}
