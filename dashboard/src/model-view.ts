import { mapLimited, type Api } from './api';
import { lineChart } from './chart';
import { metricsOf, suggestNextVersion, type Series } from './chart-geometry';
import { ApiError, describeError } from './errors';
import { h, show, when } from './dom';
import { requirementText } from './models-view';
import { loadRuns, runsSection } from './runs-view';
import { loadSecureRound, secureSection } from './secure-view';
import { STATUSES, type AggregateJson, type ArtifactJson, type ModelJson, type ScoreJson, type UpdateJson } from './types';

const AGGREGATE_SCORE = 'aggregate validation score';

/**
 * One model: its secure aggregation settings and newest secure round (a model with
 * `secure_aggregation` only), updates by status (with the reasons of failed and invalid ones), its aggregation
 * runs (running now, recent, one run's states), the aggregates'
 * lineage (parent, level, updates used, when), scores over rounds, the current artifact, and
 * publishing an aggregate as the next artifact.
 */
export async function renderModel(api: Api, target: HTMLElement, id: number, notice?: string): Promise<void> {
  const model = await api.get<ModelJson>(`models/${id}/`);
  const filter = { federated_model: id };
  const secure = model.secure_aggregation ?? null;
  const [counts, failed, invalid, aggregates, complete, artifact, runs, secureRound] = await Promise.all([
    Promise.all(STATUSES.map((status) => api.count('model_updates/', { ...filter, status: status.code }))),
    api.all<UpdateJson>('model_updates/', { ...filter, status: 3, ordering: 'created_on' }, { maxPages: 10 }),
    api.all<UpdateJson>('model_updates/', { ...filter, status: 4, ordering: 'created_on' }, { maxPages: 10 }),
    api.all<AggregateJson>('model_aggregates/', { ...filter, ordering: 'created_on' }, { maxPages: 50 }),
    // Updates used by each aggregate: the complete updates name the aggregate they went into.
    api.all<UpdateJson>('model_updates/', { ...filter, status: 2 }, { maxPages: 100 }),
    currentArtifact(api, id),
    loadRuns(api, id),
    secure === null ? null : loadSecureRound(api, id),
  ]);
  const scores = await mapLimited(aggregates.items, 4, async (aggregate) =>
    (await api.all<ScoreJson>('client_aggregate_scores/', { aggregate: aggregate.id }, { maxPages: 10 })).items,
  );

  const used = new Map<number, number>();
  for (const update of complete.items) {
    if (update.applied_aggregate !== null) used.set(update.applied_aggregate, (used.get(update.applied_aggregate) ?? 0) + 1);
  }

  show(
    target,
    h('p', {}, h('a', { href: '#/' }, '← All models')),
    h('h2', { id: 'model-title', 'data-model-id': model.id }, `${model.name} (model ${model.id})`),
    h(
      'p',
      { class: 'muted' },
      `Strategy ${model.aggregator} · requirement ${requirementText(model)} · ${model.clients_count ?? model.clients.length} clients · aggregation `,
      h('span', { class: model.allow_aggregation ? 'on' : 'off' }, model.allow_aggregation ? 'on' : 'off'),
    ),
    notice === undefined ? null : h('p', { id: 'notice', class: 'info', role: 'status' }, notice),
    secure === null || secureRound === null ? null : secureSection(model, secure, secureRound),
    updatesSection(counts, [...failed.items, ...invalid.items], failed.truncated || invalid.truncated),
    runsSection(api, model.id, runs),
    aggregatesSection(aggregates.items, used, complete.truncated),
    scoresSection(aggregates.items, scores),
    artifactSection(artifact),
    publishSection(api, target, model, aggregates.items, artifact),
  );
}

async function currentArtifact(api: Api, id: number): Promise<ArtifactJson | { tooLarge: string }> {
  try {
    return await api.get<ArtifactJson>(`models/${id}/get_current_artifact/`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 413) return { tooLarge: describeError(error, location.origin) };
    throw error;
  }
}

function updatesSection(counts: number[], problems: UpdateJson[], truncated: boolean): HTMLElement {
  const statusName = (code: number) => STATUSES.find((status) => status.code === code)?.name ?? String(code);
  return h(
    'section',
    {},
    h('h3', {}, 'Updates by status'),
    h(
      'table',
      { id: 'update-counts' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Status'), h('th', { class: 'num' }, 'Updates'))),
      h(
        'tbody',
        {},
        ...STATUSES.map((status, index) =>
          h('tr', { 'data-status': status.name }, h('th', {}, status.name), h('td', { class: 'num', 'data-count': counts[index] }, counts[index])),
        ),
      ),
    ),
    h('h3', {}, 'Why updates failed or were invalid'),
    problems.length === 0
      ? h('p', { id: 'no-problems', class: 'muted' }, 'No failed or invalid updates.')
      : h(
          'table',
          { id: 'update-problems' },
          h('thead', {}, h('tr', {}, ...['Update', 'Status', 'Reason', 'Client', 'Sent'].map((title) => h('th', {}, title)))),
          h(
            'tbody',
            {},
            ...problems.map((update) =>
              h(
                'tr',
                { 'data-update-id': update.id, 'data-status': statusName(update.status) },
                h('td', { class: 'num' }, update.id),
                h('td', {}, statusName(update.status)),
                h('td', { 'data-field': 'reason' }, update.status_reason ?? '(no reason given)'),
                h('td', {}, update.client),
                h('td', {}, when(update.created_on)),
              ),
            ),
          ),
        ),
    truncated ? h('p', { class: 'muted' }, 'Only the first 200 of each are listed.') : null,
  );
}

function aggregatesSection(aggregates: AggregateJson[], used: Map<number, number>, truncated: boolean): HTMLElement {
  if (aggregates.length === 0) return h('section', {}, h('h3', {}, 'Aggregates'), h('p', { id: 'no-aggregates', class: 'muted' }, 'No aggregates yet.'));
  return h(
    'section',
    {},
    h('h3', {}, 'Aggregates, oldest first (lineage)'),
    h(
      'table',
      { id: 'aggregates' },
      h('thead', {}, h('tr', {}, ...['Round', 'Aggregate', 'Parent', 'Level', 'Updates used', 'Validation score', 'Created'].map((title) => h('th', {}, title)))),
      h(
        'tbody',
        {},
        ...aggregates.map((aggregate, index) =>
          h(
            'tr',
            { 'data-aggregate-id': aggregate.id },
            h('td', { class: 'num' }, index + 1),
            h('td', { class: 'num', 'data-field': 'id' }, `#${aggregate.id}`),
            h('td', { class: 'num', 'data-field': 'parent' }, aggregate.parent === null ? '(root)' : `#${aggregate.parent}`),
            h('td', { class: 'num', 'data-field': 'level' }, aggregate.level),
            h('td', { class: 'num', 'data-field': 'updates-used' }, used.get(aggregate.id) ?? 0),
            h('td', { class: 'num', 'data-field': 'validation-score' }, aggregate.validation_score ?? '—'),
            h('td', { 'data-field': 'created' }, when(aggregate.created_on)),
          ),
        ),
      ),
    ),
    truncated ? h('p', { class: 'muted' }, 'Counted from the first 2,000 complete updates only.') : null,
  );
}

function scoresSection(aggregates: AggregateJson[], scores: ScoreJson[][]): HTMLElement {
  const section = h('section', { id: 'scores' }, h('h3', {}, 'Scores over rounds'));
  const metrics = [...new Set(scores.flat().flatMap((score) => Object.keys(metricsOf(score.validation_results))))];
  const hasAggregateScores = aggregates.some((aggregate) => aggregate.validation_score !== null);
  if (!hasAggregateScores && metrics.length === 0) {
    section.append(h('p', { id: 'no-scores', class: 'muted' }, 'No validation scores yet.'));
    return section;
  }
  const holder = h('div', {});
  const draw = (metric: string | undefined) => {
    const series: Series[] = [
      {
        name: AGGREGATE_SCORE,
        points: aggregates.flatMap((aggregate, index) =>
          aggregate.validation_score === null ? [] : [{ x: index + 1, y: aggregate.validation_score, label: `aggregate ${aggregate.id}` }],
        ),
      },
    ];
    const clients = [...new Set(scores.flat().map((score) => score.client))].sort();
    if (metric !== undefined) {
      for (const client of clients) {
        series.push({
          name: `client ${client.slice(0, 8)} ${metric}`,
          points: aggregates.flatMap((aggregate, index) => {
            const score = scores[index]!.find((one) => one.client === client);
            const value = score === undefined ? undefined : metricsOf(score.validation_results)[metric];
            return value === undefined ? [] : [{ x: index + 1, y: value, label: `aggregate ${aggregate.id}` }];
          }),
        });
      }
    }
    show(holder, lineChart(series, { xLabel: 'round', yLabel: 'score', title: 'Validation scores by round' }));
  };
  if (metrics.length > 0) {
    const select = h('select', { id: 'metric' }, ...metrics.map((metric) => h('option', { value: metric }, metric)));
    const preferred = metrics.includes('accuracy') ? 'accuracy' : metrics[0]!;
    select.value = preferred;
    select.addEventListener('change', () => draw(select.value));
    section.append(h('form', { class: 'inline' }, h('label', {}, "Clients' metric", select)));
    draw(preferred);
  } else {
    draw(undefined);
  }
  section.append(holder);
  return section;
}

function artifactSection(artifact: ArtifactJson | { tooLarge: string }): HTMLElement {
  const section = h('section', { id: 'artifact' }, h('h3', {}, 'Current artifact'));
  if ('tooLarge' in artifact) section.append(h('p', { class: 'muted' }, artifact.tooLarge));
  else if (artifact.id === undefined) section.append(h('p', { 'data-artifact': 'none' }, 'No artifact published yet.'));
  else {
    section.append(
      h(
        'p',
        { 'data-artifact-id': artifact.id, 'data-artifact-version': artifact.version },
        'Version ',
        h('strong', { id: 'artifact-version' }, artifact.version ?? ''),
        ` (artifact #${artifact.id}, ${countValues(artifact.values)} values), published ${when(artifact.created_on)}.`,
      ),
    );
  }
  return section;
}

function countValues(values: unknown): number {
  return Array.isArray(values) ? values.reduce<number>((sum, value) => sum + countValues(value), 0) : typeof values === 'number' ? 1 : 0;
}

function publishSection(api: Api, target: HTMLElement, model: ModelJson, aggregates: AggregateJson[], artifact: ArtifactJson | { tooLarge: string }): HTMLElement {
  const section = h('section', { id: 'publish' }, h('h3', {}, 'Publish an aggregate as the next artifact'));
  if (aggregates.length === 0) {
    section.append(h('p', { class: 'muted' }, 'There is no aggregate to publish yet.'));
    return section;
  }
  const newestFirst = [...aggregates].reverse();
  const select = h('select', { id: 'publish-aggregate' }, ...newestFirst.map((a) => h('option', { value: a.id }, `#${a.id} (level ${a.level})`)));
  const version = h('input', { id: 'publish-version', required: true, maxlength: 100, value: suggestNextVersion('version' in artifact ? artifact.version : undefined) });
  const button = h('button', { type: 'submit', id: 'publish-button' }, 'Publish…');
  const result = h('p', { id: 'publish-error', class: 'error', role: 'alert', hidden: true });
  const form = h('form', { class: 'inline' }, h('label', {}, 'Aggregate', select), h('label', {}, 'Version', version), button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = Number(select.value);
    const wanted = version.value.trim();
    if (!window.confirm(`Publish aggregate #${chosen} of “${model.name}” as version ${wanted}? Clients will get it as the model's current artifact.`)) return;
    button.disabled = true;
    result.hidden = true;
    api
      .post<ArtifactJson>(`model_aggregates/${chosen}/publish_aggregate/`, { version: wanted })
      .then(
        (published) => {
          const notice = `Published aggregate #${chosen} as version ${published.version} (artifact #${published.id}).`;
          renderModel(api, target, model.id, notice).catch((error: unknown) => {
            result.textContent = `${notice} The page could not be refreshed: ${describeError(error, location.origin)}`;
            result.hidden = false;
          });
        },
        (error: unknown) => {
          result.textContent = `Not published. ${describeError(error, location.origin)}`;
          result.hidden = false;
          button.disabled = false;
        },
      );
  });
  section.append(form, result);
  return section;
}
