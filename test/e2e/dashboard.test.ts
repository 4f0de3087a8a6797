import { constants } from 'node:fs';
import { access, mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page, type Request } from 'playwright-core';
import { MongoMetadataConnector } from '../../lib/connector';
import { UpdateStatus } from '../../lib/entities';
import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, useTestDatabase } from '../helpers/database';
import { httpApi } from '../helpers/http-api';
import { waitForRun } from '../helpers/offline-client';
import { AGGREGATED_RUN_STATES } from '../helpers/run-states';
import { TestSecureClient } from '../helpers/secure-client';

/**
 * The developers' dashboard (GET /dashboard) in a real browser: Debian's chromium driven by
 * playwright-core, against serverless-offline on a seeded database and object store. Every
 * figure the page shows is read back from its DOM and compared with what was seeded.
 */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'test-results', 'dashboard');

describe('the dashboard in chromium against serverless-offline', () => {
  const database = useTestDatabase();
  let offline: RunningOffline | undefined;
  let browser: BrowserContext | undefined;
  let userDataDir: string | undefined;
  let seeded: Awaited<ReturnType<typeof seed>>;

  async function seed(connector: MongoMetadataConnector) {
    await connector.updateDatabase();
    const alice = await connector.createDeveloper('alice');
    const bob = await connector.createDeveloper('bob');
    const [c1, c2, c3] = await Promise.all([1, 2, 3].map(async () => (await connector.createClient()).id));
    const fraud = await connector.createFederatedModel({
      name: 'fraud detector',
      developer: alice.id,
      clients: [c1!, c2!, c3!],
      aggregator: 'avg_values_if_data',
      requirement: 'require_x_updates',
      requirementArgs: [3],
      allowAggregation: true,
    });
    const firstArtifact = await connector.createModelArtifact(fraud, '1.0.0', [0, 0, 0]);
    const spam = await connector.createFederatedModel({
      name: 'spam filter',
      developer: alice.id,
      clients: [c1!],
      aggregator: 'weighted_fedavg',
      requirement: 'all_clients',
      allowAggregation: false,
    });
    await connector.createFederatedModel({ name: "bob's model", developer: bob.id, aggregator: 'avg_values_if_data' });

    const agg1 = await connector.postNewModelAggregate(fraud, null, [1, 1, 1]);
    const agg2 = await connector.postNewModelAggregate(fraud, agg1, [2, 2, 2]);
    const agg3 = await connector.postNewModelAggregate(fraud, agg2, [3, 3, 3]);
    const clients = [c1!, c2!, c3!];
    const send = async (n: number) =>
      (await connector.createModelUpdates(
        Array.from({ length: n }, (_, i) => ({ federatedModel: fraud.id, client: clients[i % 3]!, data: [i, i, i] })),
      )).map((update) => update.id);
    // 10 + 8 + 5 = 23 complete updates: more than one page (at most 20), so the page follows Link.
    const used = { [agg1.id]: 10, [agg2.id]: 8, [agg3.id]: 5 };
    for (const [aggregate, n] of Object.entries(used)) {
      const ids = await send(n);
      const run = `run-${aggregate}`;
      await connector.registerModelUpdatesForAggregation(ids, { run });
      await connector.registerModelUpdateUsedInAggregate(ids, Number(aggregate), { run });
      await connector.registerModelUpdatesUseInAggregationComplete(ids, true, { run });
    }
    await send(2); // pending
    await connector.registerModelUpdatesForAggregation(await send(1), { run: 'run-live' }); // running
    const [failedA, failedB] = await send(2);
    await connector.registerModelUpdatesForAggregation([failedA!], { run: 'run-f1' });
    await connector.registerModelUpdatesUseInAggregationComplete([failedA!], false, { run: 'run-f1', reason: 'aggregator ran out of memory' });
    await connector.registerModelUpdatesForAggregation([failedB!], { run: 'run-f2' });
    await connector.registerModelUpdatesUseInAggregationComplete([failedB!], false, { run: 'run-f2', reason: 'lease lost before the aggregate was written' });
    // No operation marks an update INVALID (as in test/fixtures/scenario.ts): set it directly.
    const [invalid] = await send(1);
    await database.db
      .collection('model_updates')
      .updateOne({ _id: invalid as never }, { $set: { status: UpdateStatus.INVALID, statusReason: 'data did not match the update schema' } });

    await connector.setAggregateValidationScore(agg1, 0.61);
    await connector.setAggregateValidationScore(agg2, 0.72);
    await connector.setAggregateValidationScore(agg3, 0.83);
    const accuracy = { [c1!]: [0.6, 0.7, 0.8], [c2!]: [0.55, 0.65, 0.85], [c3!]: [0.5, null, 0.9] };
    for (const [client, values] of Object.entries(accuracy)) {
      for (const [round, value] of values.entries()) {
        if (value === null) continue;
        await connector.createClientAggregateScore([agg1, agg2, agg3][round]!, client, { accuracy: value, loss: 1 - value });
      }
    }
    return { alice, bob, clients, fraud, spam, firstArtifact, aggregates: [agg1, agg2, agg3], used, accuracy, failed: [failedA!, failedB!], invalid: invalid! };
  }

  beforeAll(async () => {
    await access(CHROMIUM, constants.X_OK).catch(() => {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`);
    });
    seeded = await seed(new MongoMetadataConnector(database.db));
    offline = await startOffline({
      env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: database.name, AGGREGATION_EXECUTOR: 'local' },
      esbuildWorkFolder: '.esbuild/dashboard',
      readyTimeoutMs: 280_000,
    });
    await mkdir(SCREENSHOTS, { recursive: true });
    userDataDir = await mkdtemp(path.join(tmpdir(), 'fma-dashboard-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 300_000); // serverless-offline builds the functions first: slow on a busy machine

  afterAll(async () => {
    // The browser, its profile and the service go whatever the tests did.
    try {
      await browser?.close();
    } finally {
      if (userDataDir !== undefined) await rm(userDataDir, { recursive: true, force: true });
      await offline?.stop();
    }
  }, 60_000);

  /** A fresh tab (its own sessionStorage) that records every request and every error the page logs. */
  async function openTab() {
    const page = await browser!.newPage();
    const requests: Request[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(String(error)));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`);
    });
    return { page, requests, problems };
  }

  async function signIn(page: Page, token: string) {
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
  }

  const cell = (page: Page, row: string, field: string) => page.locator(`${row} [data-field="${field}"]`).innerText();

  it('shows the models, one model\'s counts, lineage and scores as seeded, and publishes an aggregate', async () => {
    const { page, requests, problems } = await openTab();
    try {
      const response = await page.goto(`${offline!.httpUrl}/dashboard`);
      expect(response!.status()).toBe(200);
      const headers = response!.headers();
      expect(headers['content-security-policy']).toContain("script-src 'self'");
      expect(headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['referrer-policy']).toBe('no-referrer');

      await signIn(page, seeded.alice.token);
      await page.waitForSelector('#models tbody tr');
      // Alice's two models, not Bob's.
      expect(await page.locator('#models tbody tr').count()).toBe(2);
      const fraudRow = `#models tr[data-model-id="${seeded.fraud.id}"]`;
      const spamRow = `#models tr[data-model-id="${seeded.spam.id}"]`;
      expect({
        name: await cell(page, fraudRow, 'name'),
        aggregator: await cell(page, fraudRow, 'aggregator'),
        requirement: await cell(page, fraudRow, 'requirement'),
        clients: await cell(page, fraudRow, 'clients'),
        rounds: await cell(page, fraudRow, 'rounds'),
        artifact: await cell(page, fraudRow, 'artifact'),
        aggregation: await cell(page, fraudRow, 'aggregation'),
      }).toEqual({
        name: 'fraud detector',
        aggregator: 'avg_values_if_data',
        requirement: 'require_x_updates [3]',
        clients: '3',
        rounds: '3',
        artifact: '1.0.0',
        aggregation: 'on',
      });
      expect({
        requirement: await cell(page, spamRow, 'requirement'),
        clients: await cell(page, spamRow, 'clients'),
        rounds: await cell(page, spamRow, 'rounds'),
        artifact: await cell(page, spamRow, 'artifact'),
        aggregation: await cell(page, spamRow, 'aggregation'),
      }).toEqual({ requirement: 'all_clients', clients: '1', rounds: '0', artifact: 'none', aggregation: 'off' });
      await page.screenshot({ path: path.join(SCREENSHOTS, '1-models.png'), fullPage: true });

      await page.click(`${fraudRow} a`);
      await page.waitForSelector('#update-counts');
      const counts = await page.$$eval('#update-counts tbody tr', (rows) =>
        Object.fromEntries(rows.map((row) => [row.getAttribute('data-status'), Number(row.querySelector('td')!.textContent)])),
      );
      expect(counts).toEqual({ pending: 2, running: 1, complete: 23, failed: 2, invalid: 1 });
      const problemsShown = await page.$$eval('#update-problems tbody tr', (rows) =>
        rows.map((row) => [Number(row.getAttribute('data-update-id')), row.getAttribute('data-status'), row.querySelector('[data-field="reason"]')!.textContent]),
      );
      expect(problemsShown).toEqual([
        [seeded.failed[0], 'failed', 'aggregator ran out of memory'],
        [seeded.failed[1], 'failed', 'lease lost before the aggregate was written'],
        [seeded.invalid, 'invalid', 'data did not match the update schema'],
      ]);

      const [agg1, agg2, agg3] = seeded.aggregates.map((aggregate) => aggregate.id) as [number, number, number];
      const lineage = await page.$$eval('#aggregates tbody tr', (rows) =>
        rows.map((row) => {
          const field = (name: string) => row.querySelector(`[data-field="${name}"]`)!.textContent;
          return [Number(row.getAttribute('data-aggregate-id')), field('parent'), field('level'), field('updates-used'), field('validation-score')];
        }),
      );
      expect(lineage).toEqual([
        [agg1, '(root)', '0', '10', '0.61'],
        [agg2, `#${agg1}`, '1', '8', '0.72'],
        [agg3, `#${agg2}`, '2', '5', '0.83'],
      ]);

      // The chart: one series for the aggregates' scores, one per client, points read from the SVG.
      const series = async () =>
        page.$$eval('#scores svg circle', (circles) => {
          const bySeries: Record<string, [number, number, number][]> = {};
          for (const circle of circles) {
            const name = circle.getAttribute('data-series')!;
            (bySeries[name] ??= []).push([Number(circle.getAttribute('data-x')), Number(circle.getAttribute('data-y')), Number(circle.getAttribute('cy'))]);
          }
          return bySeries;
        });
      const accuracy = await series();
      const values = (points: [number, number, number][] | undefined) => points?.map(([x, y]) => [x, y]);
      expect(values(accuracy['aggregate validation score'])).toEqual([[1, 0.61], [2, 0.72], [3, 0.83]]);
      const [c1, c2, c3] = seeded.clients as [string, string, string];
      expect(Object.keys(accuracy).sort()).toEqual(
        ['aggregate validation score', ...[c1, c2, c3].map((c) => `client ${c.slice(0, 8)} accuracy`)].sort(),
      );
      expect(values(accuracy[`client ${c1.slice(0, 8)} accuracy`])).toEqual([[1, 0.6], [2, 0.7], [3, 0.8]]);
      expect(values(accuracy[`client ${c2.slice(0, 8)} accuracy`])).toEqual([[1, 0.55], [2, 0.65], [3, 0.85]]);
      expect(values(accuracy[`client ${c3.slice(0, 8)} accuracy`])).toEqual([[1, 0.5], [3, 0.9]]);
      // Higher scores are drawn higher up (smaller y in SVG).
      const heights = accuracy['aggregate validation score']!.map(([, , cy]) => cy);
      expect(heights[0]).toBeGreaterThan(heights[1]!);
      expect(heights[1]).toBeGreaterThan(heights[2]!);
      await page.selectOption('#metric', 'loss');
      const loss = await series();
      expect(values(loss[`client ${c1.slice(0, 8)} loss`])?.map(([x, y]) => [x, Number(y!.toFixed(6))])).toEqual([[1, 0.4], [2, 0.3], [3, 0.2]]);
      expect(await page.locator('#artifact-version').innerText()).toBe('1.0.0');
      await page.screenshot({ path: path.join(SCREENSHOTS, '2-model.png'), fullPage: true });

      // Publishing asks first: dismissed, nothing is published.
      const artifacts = database.db.collection('model_artifacts');
      const before = await artifacts.countDocuments({ federatedModel: seeded.fraud.id });
      await page.selectOption('#publish-aggregate', String(agg2));
      await page.fill('#publish-version', '1.5.0');
      const dismissed = page.waitForEvent('dialog').then((dialog) => dialog.dismiss());
      await page.click('#publish-button');
      await dismissed;
      expect(await artifacts.countDocuments({ federatedModel: seeded.fraud.id })).toBe(before);

      // A version the model has: the API's 400 is shown, nothing is published.
      await page.fill('#publish-version', '1.0.0');
      page.once('dialog', (dialog) => void dialog.accept());
      await page.click('#publish-button');
      await page.waitForSelector('#publish-error:not([hidden])');
      const refused = await page.locator('#publish-error').innerText();
      expect(refused).toContain('Not published');
      expect(refused).toContain('400');
      expect(refused).toContain('1.0.0');
      expect(await artifacts.countDocuments({ federatedModel: seeded.fraud.id })).toBe(before);

      // Accepted: the new artifact is the current one, on the page and in the database.
      await page.selectOption('#publish-aggregate', String(agg3));
      await page.fill('#publish-version', '2.0.0');
      page.once('dialog', (dialog) => void dialog.accept());
      await page.click('#publish-button');
      await page.waitForSelector('#notice');
      expect(await page.locator('#notice').innerText()).toContain(`Published aggregate #${agg3} as version 2.0.0`);
      expect(await page.locator('#artifact-version').innerText()).toBe('2.0.0');
      const model = await database.db.collection('federated_models').findOne({ _id: seeded.fraud.id as never });
      const current = await artifacts.findOne({ _id: model!.currentArtifact });
      expect(current).toMatchObject({ federatedModel: seeded.fraud.id, version: '2.0.0' });
      expect(await page.locator('[data-artifact-id]').getAttribute('data-artifact-id')).toBe(String(model!.currentArtifact));
      await page.screenshot({ path: path.join(SCREENSHOTS, '3-published.png'), fullPage: true });

      await page.click('text=← All models');
      await page.waitForSelector('#models');
      expect(await cell(page, fraudRow, 'artifact')).toBe('2.0.0');

      // The token went in the Authorization header of API calls, never in a URL; the page logged no error (a CSP violation would be one).
      const apiCalls = requests.filter((request) => new URL(request.url()).pathname.startsWith('/api/v1/'));
      expect(apiCalls.length).toBeGreaterThan(10);
      for (const request of apiCalls) expect(await request.headerValue('authorization')).toBe(`Token ${seeded.alice.token}`);
      for (const request of requests) expect(request.url()).not.toContain(seeded.alice.token);
      // Only the refused publish answered an error.
      expect(problems.sort()).toEqual([
        `400 POST /api/v1/model_aggregates/${agg2}/publish_aggregate/`,
        'Failed to load resource: the server responded with a status of 400 (Bad Request)',
      ]);
    } finally {
      await page.close();
    }
  }, 120_000);

  it("shows a model's aggregation runs: one that succeeded, one that failed with its reason, one running now, and each run's states with their durations", async () => {
    const connector = new MongoMetadataConnector(database.db);
    const [c1, c2] = seeded.clients as [string, string];
    // A model of Alice's of its own, made after the first test counted her models.
    const model = await connector.createFederatedModel({ name: 'runs demo', developer: seeded.alice.id, clients: [c1, c2], aggregator: 'avg_values_if_data' });
    await connector.createModelUpdates([
      { federatedModel: model.id, client: c1, data: [1, 2] },
      { federatedModel: model.id, client: c2, data: [3, 4] },
    ]);
    const startRun = async () => {
      const response = await fetch(`${offline!.httpUrl}/aggregation/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: model.id }) });
      const { run } = (await response.json()) as { run: string };
      await waitForRun(offline!.httpUrl, run);
      return run;
    };
    // Two real runs through the service's state machine: one aggregates both updates...
    const succeeded = await startRun();
    // ...one fails: the model's requirement, written around the API's checks, cannot be evaluated.
    await connector.createModelUpdate({ federatedModel: model.id, client: c1, data: [5, 6] });
    await database.db.collection('federated_models').updateOne({ _id: model.id as never }, { $set: { requirement: 'quorum_of_owls' } });
    const failed = await startRun();
    // One going now: its first five states have reported, as its tasks report them, since 95 s ago.
    const live = `model-${model.id}-schedule-202612011200`;
    const liveStart = Date.now() - 95_000;
    const liveStates = ['AcquireLease', 'PullModel', 'PullLatestAggregate', 'CheckRequirement', 'ClaimUpdates'];
    for (const [i, state] of liveStates.entries()) {
      const enteredAt = new Date(liveStart + 20 + i * 400);
      await connector.recordRunState({
        run: live,
        model: model.id,
        state,
        startedAt: new Date(liveStart),
        enteredAt,
        exitedAt: new Date(enteredAt.getTime() + 100 * (i + 1)),
        ...(state === 'ClaimUpdates' ? { claimed: 1 } : {}),
      });
    }
    // And one whose task died two hours ago, long past the state machine's timeout: not running any more.
    const stale = `model-${model.id}-update-202612010900`;
    const staleStart = new Date(Date.now() - 2 * 3_600_000);
    await connector.recordRunState({ run: stale, model: model.id, state: 'AcquireLease', startedAt: staleStart, enteredAt: staleStart, exitedAt: new Date(staleStart.getTime() + 30) });

    const recorded = new Map(
      (await database.db.collection('aggregation_runs').find({ model: model.id }).toArray()).map((run) => [run._id as unknown as string, run]),
    );
    expect([...recorded.keys()].sort()).toEqual([failed, live, stale, succeeded].sort());

    const { page, problems } = await openTab();
    try {
      await page.goto(`${offline!.httpUrl}/dashboard#/models/${model.id}`);
      await signIn(page, seeded.alice.token);
      await page.waitForSelector('#runs-table');
      const rows = await page.$$eval('#runs-table tbody tr', (trs) =>
        trs.map((tr) => {
          const field = (name: string) => tr.querySelector(`[data-field="${name}"]`)!.textContent;
          return [tr.getAttribute('data-run-name'), field('trigger'), field('status'), field('final-state'), field('claimed'), field('error')];
        }),
      );
      const failure = rows[0]![5]!;
      expect(rows).toEqual([
        [failed, 'manual', 'failed', 'AggregationFailed', '—', failure],
        [succeeded, 'manual', 'succeeded', 'Aggregated', '2', ''],
        [live, 'schedule', 'running', 'after ClaimUpdates', '1', ''],
        [stale, 'update', 'timed out (stale)', 'after AcquireLease', '—', ''],
      ]);
      // The failed run's reason: the state that failed, the error's name and its message.
      expect(failure).toMatch(/^CheckRequirement: RequirementError: .*quorum_of_owls/);
      // The succeeded run's duration is the record's, start to stop.
      const shownMs = Number(await page.locator(`#runs-table tr[data-run-name="${succeeded}"] [data-field="duration"]`).getAttribute('data-ms'));
      const done = recorded.get(succeeded)!;
      expect(shownMs).toBe(done.stoppedAt.getTime() - done.startedAt.getTime());

      // What is running now: the live run only (the stale one is not), for how long, after which state.
      const running = await page.$$eval('#running-runs tbody tr', (trs) =>
        trs.map((tr) => [tr.getAttribute('data-run-name'), Number(tr.querySelector('[data-field="running-for"]')!.getAttribute('data-ms')), tr.querySelector('[data-field="last-state"]')!.textContent, tr.querySelector('[data-field="running-for"]')!.textContent]),
      );
      expect(running).toHaveLength(1);
      const [name, forMs, lastState, forText] = running[0]!;
      expect([name, lastState]).toEqual([live, 'ClaimUpdates']);
      expect(forMs).toBeGreaterThanOrEqual(95_000);
      expect(forMs).toBeLessThan(95_000 + 120_000);
      expect(forText).toMatch(/^\d+ min \d\d s$/);
      await page.screenshot({ path: path.join(SCREENSHOTS, '6-runs.png'), fullPage: true });

      // One run's states, in order, each with its duration as recorded.
      const statesOf = async (run: string) => {
        await page.click(`#runs-table button[data-run-name="${run}"]`);
        await page.waitForSelector(`#run-detail [data-run-name="${run}"] #run-states`);
        return page.$$eval('#run-states tbody tr', (trs) =>
          trs.map((tr) => [tr.getAttribute('data-state'), Number(tr.querySelector('[data-field="duration"]')!.getAttribute('data-ms')), tr.querySelector('[data-field="error"]')!.textContent]),
        );
      };
      const expected = (run: string) =>
        (recorded.get(run)!.states as { state: string; enteredAt: Date; exitedAt: Date; error: { error: string } | null }[]).map((entry) => [
          entry.state,
          entry.exitedAt.getTime() - entry.enteredAt.getTime(),
          entry.error?.error ?? null,
        ]);
      const aggregatedStates = await statesOf(succeeded);
      expect(aggregatedStates.map(([state, ms]) => [state, ms])).toEqual(expected(succeeded).map(([state, ms]) => [state, ms]));
      expect(aggregatedStates.map(([state]) => state)).toEqual([...AGGREGATED_RUN_STATES]);
      expect(aggregatedStates.every(([, , error]) => error === '')).toBe(true);
      await page.screenshot({ path: path.join(SCREENSHOTS, '7-run-states.png'), fullPage: true });

      const failedStates = await statesOf(failed);
      expect(failedStates.map(([state, ms]) => [state, ms])).toEqual(expected(failed).map(([state, ms]) => [state, ms]));
      expect(failedStates.map(([state, , error]) => [state, error === '' ? null : String(error).split(':')[0]])).toEqual([
        ['AcquireLease', null],
        ['PullModel', null],
        ['PullLatestAggregate', null],
        ['CheckRequirement', 'RequirementError'],
        ['ReleaseLeaseAndFail', null],
      ]);
      expect(await page.locator('#run-error').innerText()).toContain('quorum_of_owls');

      const liveShown = await statesOf(live);
      expect(liveShown).toEqual(liveStates.map((state, i) => [state, 100 * (i + 1), '']));
      expect(await page.locator('#run-summary').innerText()).toMatch(/^running · last state reported: ClaimUpdates · started .* · running for \d+ min \d\d s$/);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  }, 180_000);

  it("shows a secure model's settings and newest round (complete with its aggregate, advertising, failed with its reason, none yet), never a key, and no panel for a plain model", async () => {
    const api = httpApi(() => offline!.httpUrl);
    const token = seeded.alice.token;
    /** A model of Alice's with secure_aggregation, made through the API, and `members` clients registered in it. */
    const secureModel = async (name: string, secure: Record<string, number>, members: number) => {
      const created = await api('POST', '/api/v1/models/', { token, body: { name, aggregator: 'avg_values_if_data', secure_aggregation: { clip_range: 1, ...secure } } });
      expect(created.status).toBe(201);
      const id = created.body.id as number;
      const clients: TestSecureClient[] = [];
      for (let i = 0; i < members; i += 1) {
        const registered = await api('POST', `/api/v1/models/${id}/register_client/`, { body: {} });
        expect(registered.status).toBe(201);
        clients.push(new TestSecureClient(api, id, registered.body.uuid));
      }
      return { id, clients };
    };

    // A round run to its end by three clients of Node's crypto (test/helpers/secure-client.ts): the state machine writes its aggregate.
    const done = await secureModel('secure complete', { threshold: 2, bits: 12, stage_seconds: 600 }, 3);
    for (const client of done.clients) expect((await client.advertise([[4]])).status).toBe(201);
    for (const client of done.clients) await client.waitWhile('advertising');
    for (const client of done.clients) expect((await client.share()).status).toBe(201);
    for (const client of done.clients) await client.waitWhile('sharing');
    for (const [i, client] of done.clients.entries()) expect((await client.maskedInput([0.1 * i, 0.5, -0.5, 0.25])).status).toBe(201);
    for (const client of done.clients) await client.waitWhile('masking');
    for (const client of done.clients) expect((await client.reveal()).status).toBe(201);
    await done.clients[0]!.waitWhile('unmasking');
    const finished = await done.clients[0]!.waitWhile('summing', 90_000);
    expect(finished).toMatchObject({ status: 'complete', round: 1 });
    expect(finished.aggregate).not.toBeNull();
    // One still advertising: one of its three members has advertised; the stage waits for the others.
    const advertising = await secureModel('secure advertising', { threshold: 2, stage_seconds: 600 }, 3);
    expect((await advertising.clients[0]!.advertise([[4]])).status).toBe(201);
    // One whose advertising stage closed after a second with one of three: the page's read closes it, failed.
    const failing = await secureModel('secure failing', { threshold: 2, stage_seconds: 1 }, 3);
    expect((await failing.clients[0]!.advertise([[4]])).status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // And one that never had a round.
    const idle = await secureModel('secure idle', { threshold: 3 }, 0);
    const secrets = [done, advertising, failing].flatMap(({ clients }) =>
      clients.flatMap((client) => [client.c.publicRaw.toString('base64'), client.s.publicRaw.toString('base64'), client.client, client.id].filter((text) => text !== '')),
    );

    const { page, problems } = await openTab();
    const open = async (id: number) => {
      await page.goto(`${offline!.httpUrl}/dashboard#/models/${id}`);
      await page.waitForSelector(`#model-title[data-model-id="${id}"]`);
      // Nothing of a client shows: no public key, no client id.
      const html = await page.content();
      for (const secret of secrets) expect(html).not.toContain(secret);
    };
    const stages = () =>
      page.$$eval('#secure-stages tbody tr', (rows) =>
        rows.map((row) => [row.getAttribute('data-stage'), row.getAttribute('data-state'), row.querySelector('[data-field="count"]')!.textContent]),
      );
    try {
      await page.goto(`${offline!.httpUrl}/dashboard#/models/${done.id}`);
      await signIn(page, token);
      await open(done.id);
      const settings = await page.$$eval('#secure-settings [data-field]', (cells) => cells.map((cell) => [cell.getAttribute('data-field'), cell.textContent]));
      expect(settings).toEqual([
        ['threshold', '2 clients'],
        ['clip-range', '±1'],
        ['bits', '12'],
        ['max-weight', '1'],
        ['stage-seconds', '600 s (10 min 00 s)'],
      ]);
      expect(await page.locator('#secure-round').getAttribute('data-round')).toBe('1');
      expect(await page.locator('#secure-round [data-field="status"]').innerText()).toBe('complete');
      expect(await page.locator('#secure-round [data-field="deadline"]').count()).toBe(0);
      expect(await page.locator('#secure-stages thead').innerText()).toContain('Threshold 2');
      expect(await stages()).toEqual([
        ['participants', 'closed', '3'],
        ['sharers', 'closed', '3'],
        ['maskers', 'closed', '3'],
        ['revealers', 'closed', '3'],
      ]);
      // The aggregate it wrote, named as the lineage names it; picking it shows that row.
      const link = page.locator('#secure-aggregate button');
      expect([await link.innerText(), await link.getAttribute('data-aggregate-id')]).toEqual([`#${finished.aggregate}`, String(finished.aggregate)]);
      await link.click();
      expect(await page.locator(`#aggregates tr[data-aggregate-id="${finished.aggregate}"]`).getAttribute('class')).toBe('picked');
      expect(await page.locator('#secure-failure').count()).toBe(0);
      await page.screenshot({ path: path.join(SCREENSHOTS, '8-secure-complete.png'), fullPage: true });

      await open(advertising.id);
      expect(await page.locator('#secure-round').getAttribute('data-status')).toBe('advertising');
      expect(await page.locator('#secure-round [data-field="status"]').innerText()).toBe('advertising');
      expect(await page.locator('#secure-round [data-field="deadline"]').innerText()).toMatch(/^closes in (9 min \d\d|10 min 00) s$/);
      expect(await page.locator('#secure-stages thead').innerText()).toContain('Threshold 2');
      expect(await page.locator('#secure-stages [data-stage="participants"] [data-field="threshold"]').getAttribute('data-threshold')).toBe('2');
      expect(await stages()).toEqual([
        ['participants', 'open', '—'],
        ['sharers', 'later', '—'],
        ['maskers', 'later', '—'],
        ['revealers', 'later', '—'],
      ]);
      expect(await page.locator('#secure-stages [data-stage="participants"] [data-field="note"]').innerText()).toContain('all 3 members have advertised');
      await page.screenshot({ path: path.join(SCREENSHOTS, '9-secure-advertising.png'), fullPage: true });

      await open(failing.id);
      expect(await page.locator('#secure-round [data-field="status"]').innerText()).toBe('failed');
      const failure = page.locator('#secure-failure');
      expect(await failure.getAttribute('class')).toBe('error');
      expect(await failure.innerText()).toBe(
        'Failed: only 1 of the 3 clients expected sent their keys before the advertising stage closed; 2 (the threshold) are needed',
      );
      expect((await stages())[0]).toEqual(['participants', 'failed', '—']);
      expect(await page.locator('#secure-aggregate').count()).toBe(0);

      await open(idle.id);
      expect(await page.locator('#secure-settings [data-field="threshold"]').innerText()).toBe('3 clients');
      expect(await page.locator('#no-secure-round').innerText()).toContain('No secure round yet');
      expect(await page.locator('#secure-round').count()).toBe(0);

      // A plain model: no panel, and no secure_round request.
      const requested: string[] = [];
      page.on('request', (request) => requested.push(new URL(request.url()).pathname));
      await open(seeded.spam.id);
      await page.waitForSelector('#update-counts');
      expect(await page.locator('#secure-aggregation').count()).toBe(0);
      expect(requested.filter((p) => p.includes('secure_round'))).toEqual([]);
      // Only the idle model's round answered an error: the 404 that says it has none.
      expect(problems.sort()).toEqual([
        `404 GET /api/v1/models/${idle.id}/secure_round/`,
        'Failed to load resource: the server responded with a status of 404 (Not Found)',
      ]);
    } finally {
      await page.close();
    }
  }, 240_000);

  it('says in plain words that a wrong token was refused, or that the service cannot be reached, and never puts a token in a URL', async () => {
    const { page, requests } = await openTab();
    const wrong = 'not-a-real-token-7f3a9c';
    try {
      await page.goto(`${offline!.httpUrl}/dashboard`);
      await signIn(page, wrong);
      await page.waitForSelector('#message.error');
      const message = await page.locator('#message').innerText();
      expect(message).toContain('did not accept this token');
      expect(message).toContain('401');
      // Asked again, and the refused token is not kept.
      await page.waitForSelector('#token-form');
      expect(await page.evaluate('Object.keys(sessionStorage).length')).toBe(0);
      expect(await page.locator('#models').count()).toBe(0);
      await page.screenshot({ path: path.join(SCREENSHOTS, '4-wrong-token.png'), fullPage: true });

      // The right token, then the service goes away: a network failure, said so.
      await signIn(page, seeded.alice.token);
      await page.waitForSelector('#models');
      await page.route('**/api/v1/**', (route) => route.abort('connectionrefused'));
      await page.reload();
      await page.waitForSelector('#message.error');
      expect(await page.locator('#message').innerText()).toContain('Could not reach the service');
      expect(await page.locator('#retry').count()).toBe(1);
      await page.unroute('**/api/v1/**');
      await page.click('#retry');
      await page.waitForSelector('#models');
      await page.screenshot({ path: path.join(SCREENSHOTS, '5-recovered.png'), fullPage: true });

      expect(requests.some((request) => request.url().includes('/api/v1/'))).toBe(true);
      for (const request of requests) {
        expect(request.url()).not.toContain(wrong);
        expect(request.url()).not.toContain(seeded.alice.token);
      }
      expect(page.url()).not.toContain(seeded.alice.token);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('serves only its own files, each with the security headers', async () => {
    for (const file of ['app.js', 'styles.css', 'favicon.svg']) {
      const response = await fetch(`${offline!.httpUrl}/dashboard/${file}`);
      expect({ file, status: response.status, nosniff: response.headers.get('x-content-type-options') }).toEqual({ file, status: 200, nosniff: 'nosniff' });
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
    const missing = await fetch(`${offline!.httpUrl}/dashboard/secrets.json`);
    expect(missing.status).toBe(404);
    const page = await fetch(`${offline!.httpUrl}/dashboard`);
    const etag = page.headers.get('etag')!;
    expect(await page.text()).toContain('<script defer src="dashboard/app.js"></script>');
    expect((await fetch(`${offline!.httpUrl}/dashboard`, { headers: { 'if-none-match': etag } })).status).toBe(304);
  });

  it('works under a stage prefix (/dev/dashboard), calling /dev/api/v1, as behind API Gateway', async () => {
    const { page, requests } = await openTab();
    try {
      // Stand in for API Gateway's stage: strip /dev before the request reaches serverless-offline.
      await page.route(
        (url) => url.pathname.startsWith('/dev/'),
        async (route) => {
          const url = new URL(route.request().url());
          url.pathname = url.pathname.slice('/dev'.length);
          await route.fulfill({ response: await route.fetch({ url: url.href }) });
        },
      );
      await page.goto(`${offline!.httpUrl}/dev/dashboard`);
      await signIn(page, seeded.alice.token);
      await page.click(`#models tr[data-model-id="${seeded.fraud.id}"] a`);
      await page.waitForSelector('#aggregates');
      expect(await page.locator('#update-counts tr[data-status="complete"] td').innerText()).toBe('23');
      const paths = requests.map((request) => new URL(request.url()).pathname);
      expect(paths).toEqual(expect.arrayContaining(['/dev/dashboard', '/dev/dashboard/app.js', '/dev/dashboard/styles.css']));
      expect(paths.filter((p) => p.includes('/api/v1/')).length).toBeGreaterThan(5);
      expect(paths.filter((p) => !p.startsWith('/dev/'))).toEqual([]);

      // Opened with a trailing slash, the relative URLs gain a segment: the same files, the same API.
      requests.length = 0;
      await page.goto(`${offline!.httpUrl}/dev/dashboard/#/models/${seeded.fraud.id}`);
      await page.waitForSelector('#aggregates');
      expect(await page.locator('#update-counts tr[data-status="pending"] td').innerText()).toBe('2');
      const slashed = requests.map((request) => new URL(request.url()).pathname);
      expect(slashed).toEqual(expect.arrayContaining(['/dev/dashboard/', '/dev/dashboard/dashboard/app.js', '/dev/api/v1/models/' + seeded.fraud.id + '/']));
    } finally {
      await page.close();
    }
  }, 120_000);
});
