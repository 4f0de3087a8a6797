import { Api } from './api';
import { ApiError, describeError } from './errors';
import { h, show } from './dom';
import { apiBaseFor } from './links';
import { renderModel } from './model-view';
import { renderModels } from './models-view';
import { forgetToken, readToken, saveToken } from './token';

/**
 * The dashboard: a token form until a token is saved, then the models (`#/`) or one model
 * (`#/models/<id>`). Routes live in the fragment, which browsers never send to the server.
 */
const app = document.getElementById('app')!;
const message = document.getElementById('message')!;
const session = document.getElementById('session')!;

function say(text: string, kind: 'error' | 'info' = 'error'): void {
  message.className = kind;
  message.textContent = text;
}

function tokenForm(): HTMLElement {
  // No `name` on the input and no `action` on the form: even a native submission could not put
  // the token in a URL.
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, size: 48 });
  const form = h(
    'form',
    { id: 'token-form', class: 'inline' },
    h('label', {}, 'Developer token', input),
    h('button', { type: 'submit' }, 'Use this token'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim().replace(/^Token\s+/i, '');
    input.value = '';
    if (token === '') return;
    saveToken(token);
    void route();
  });
  return h(
    'section',
    {},
    h('h2', {}, 'Sign in'),
    h(
      'p',
      {},
      'Paste the developer token that ',
      h('code', {}, 'npm start'),
      ' or ',
      h('code', {}, 'npm run create-developer'),
      ' printed. It is kept in this tab only (sessionStorage) and sent in the Authorization header, never in a URL.',
    ),
    form,
  );
}

function sessionBar(signedIn: boolean): void {
  if (!signedIn) {
    show(session);
    return;
  }
  const forget = h('button', { type: 'button', id: 'forget-token' }, 'Forget token');
  forget.addEventListener('click', () => {
    forgetToken();
    say('The token is forgotten.', 'info');
    void route();
  });
  show(session, h('span', { class: 'session' }, h('span', { class: 'muted' }, 'Token kept for this tab'), forget));
}

let generation = 0;

async function route(): Promise<void> {
  const mine = ++generation;
  const token = readToken();
  sessionBar(token !== null);
  if (token === null) {
    show(app, tokenForm());
    return;
  }
  const api = new Api(apiBaseFor(location.href), token);
  const model = /^#\/models\/(\d+)$/.exec(location.hash);
  show(app, h('p', { class: 'muted' }, 'Loading…'));
  try {
    if (model === null) await renderModels(api, app);
    else await renderModel(api, app, Number(model[1]));
    if (mine === generation && message.className === 'error') say('', 'info');
  } catch (error) {
    if (mine !== generation) return;
    say(describeError(error, location.origin));
    if (error instanceof ApiError && error.status === 401) {
      forgetToken();
      sessionBar(false);
      show(app, tokenForm());
    } else {
      show(app, h('p', {}, h('button', { type: 'button', id: 'retry' }, 'Try again')));
      document.getElementById('retry')!.addEventListener('click', () => void route());
    }
  }
}

window.addEventListener('hashchange', () => {
  say('', 'info');
  void route();
});
void route();
