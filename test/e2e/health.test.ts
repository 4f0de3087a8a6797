import { startOffline, type RunningOffline } from '../../scripts/offline';
import { testMongoUri, uniqueDatabaseName } from '../helpers/database';

describe('GET /health through serverless-offline', () => {
  describe('with the database up', () => {
    let offline: RunningOffline;
    beforeAll(async () => {
      offline = await startOffline({
        env: { MONGODB_URI: testMongoUri(), MONGODB_DB_NAME: uniqueDatabaseName('health') },
        esbuildWorkFolder: '.esbuild/health-up',
        readyTimeoutMs: 280_000,
      });
    }, 300_000); // serverless-offline builds the functions first: slow on a busy machine
    afterAll(() => offline?.stop());

    it('answers 200 with a JSON body that says the database answered a ping', async () => {
      const response = await fetch(`${offline.httpUrl}/health`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/application\/json/);
      const body = (await response.json()) as { database: { latencyMs: unknown; error: string } };
      expect(body).toMatchObject({ status: 'ok', database: { ok: true } });
      expect(typeof body.database.latencyMs).toBe('number');
    });
  });

  describe('with the database down', () => {
    let offline: RunningOffline;
    beforeAll(async () => {
      offline = await startOffline({
        // Nothing listens on port 9 (discard) here; selection gives up fast.
        env: { MONGODB_URI: 'mongodb://127.0.0.1:9/', MONGODB_SERVER_SELECTION_TIMEOUT_MS: '500' },
        esbuildWorkFolder: '.esbuild/health-down',
        readyTimeoutMs: 280_000,
      });
    }, 300_000);
    afterAll(() => offline?.stop());

    it('answers 503 with a JSON body instead of crashing, and keeps serving', async () => {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const response = await fetch(`${offline.httpUrl}/health`);
        expect(response.status).toBe(503);
        const body = (await response.json()) as { database: { latencyMs: unknown; error: string } };
        expect(body).toMatchObject({ status: 'degraded', database: { ok: false } });
        expect(body.database.error).toMatch(/could not be reached/);
      }
    });
  });
});
