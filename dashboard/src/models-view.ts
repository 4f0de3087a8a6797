import { mapLimited, type Api } from './api';
import { ApiError } from './errors';
import { h, show } from './dom';
import type { ArtifactJson, ModelJson } from './types';

/**
 * The developer's models: strategy and requirement, clients, rounds so far (aggregates), the
 * current artifact's version, and whether aggregation is on.
 */
export async function renderModels(api: Api, target: HTMLElement): Promise<void> {
  const { items: models, total, truncated } = await api.all<ModelJson>('models/', { ordering: 'created_on' }, { pageSize: 200, maxPages: 10 });
  if (models.length === 0) {
    show(target, h('h2', {}, 'Your models'), h('p', { id: 'no-models' }, 'You have no models yet. Create one with POST /api/v1/models/.'));
    return;
  }
  const details = await mapLimited(models, 4, async (model) => ({
    rounds: await api.count('model_aggregates/', { federated_model: model.id }),
    artifact: await currentArtifactVersion(api, model),
  }));
  const rows = models.map((model, index) => {
    const { rounds, artifact } = details[index]!;
    return h(
      'tr',
      { 'data-model-id': model.id },
      h('td', { 'data-field': 'name' }, h('a', { href: `#/models/${model.id}` }, model.name)),
      h('td', { class: 'num', 'data-field': 'id' }, model.id),
      h('td', { 'data-field': 'aggregator' }, model.aggregator),
      h('td', { 'data-field': 'requirement' }, requirementText(model)),
      h('td', { class: 'num', 'data-field': 'clients' }, model.clients_count ?? model.clients.length),
      h('td', { class: 'num', 'data-field': 'rounds' }, rounds),
      h('td', { 'data-field': 'artifact' }, artifact),
      h('td', { 'data-field': 'aggregation', class: model.allow_aggregation ? 'on' : 'off' }, model.allow_aggregation ? 'on' : 'off'),
    );
  });
  show(
    target,
    h('h2', {}, 'Your models'),
    h(
      'table',
      { id: 'models' },
      h(
        'thead',
        {},
        h('tr', {}, ...['Model', 'Id', 'Strategy', 'Requirement', 'Clients', 'Rounds', 'Current artifact', 'Aggregation'].map((title) => h('th', {}, title))),
      ),
      h('tbody', {}, ...rows),
    ),
    truncated ? h('p', { class: 'muted' }, `Showing ${models.length} of ${total} models.`) : null,
  );
}

export function requirementText(model: Pick<ModelJson, 'requirement' | 'requirement_args'>): string {
  if (model.requirement === null) return 'none';
  return model.requirement_args.length === 0 ? model.requirement : `${model.requirement} ${JSON.stringify(model.requirement_args)}`;
}

/** The current artifact's version; its id alone when its weights are too large for a JSON reply (413). */
export async function currentArtifactVersion(api: Api, model: ModelJson): Promise<string> {
  if (model.current_artifact === null) return 'none';
  try {
    const artifact = await api.get<ArtifactJson>(`models/${model.id}/get_current_artifact/`);
    return artifact.version ?? 'none';
  } catch (error) {
    if (error instanceof ApiError && error.status === 413) return `artifact #${model.current_artifact}`;
    throw error;
  }
}
