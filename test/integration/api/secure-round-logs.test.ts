/** @jest-environment-options {"env": {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}} */
import { handler as router } from '../../../functions/api/router';
import { settleLocalRuns } from '../../../lib/aggregation/start-run';
import { useHandlerDatabase } from '../../helpers/database';
import { handlerApi } from '../../helpers/http-api';
import { captureOutput } from '../../helpers/log-capture';
import { TestSecureClient } from '../../helpers/secure-client';

/**
 * What a secure round leaves in the logs and metrics (issue #28): a line and a count per stage
 * closed, the outcome counted, and never a key, a ciphertext, a share or an input.
 */
describe('secure rounds in the logs and metrics', () => {
  const database = useHandlerDatabase();
  const api = handlerApi(() => router);

  it('logs and counts each stage by ids and counts only', async () => {
    process.env.AGGREGATION_EXECUTOR = 'local';
    const token = (await database.connector.createDeveloper('logs')).token;
    const model = await api('POST', '/api/v1/models/', { token, body: { name: 'logs', aggregator: 'avg_values_if_data', secure_aggregation: { threshold: 2, clip_range: 1 } } });
    const clients: TestSecureClient[] = [];
    for (let i = 0; i < 3; i++) clients.push(new TestSecureClient(api, model.body.id, (await api('POST', `/api/v1/models/${model.body.id}/register_client/`)).body.uuid));
    const output = captureOutput();
    const secrets: string[] = [];
    try {
      for (const client of clients) await client.advertise([[8]]);
      for (const client of clients) await client.refresh();
      for (const client of clients) {
        const body = client.shareBody();
        secrets.push(client.c.publicRaw.toString('base64'), client.s.publicRaw.toString('base64'), ...body.shares.map((share) => share.ciphertext));
        await api('POST', `/api/v1/models/${model.body.id}/secure_round/shares/`, { client: client.client, body });
      }
      for (const client of clients) await client.refresh();
      for (const client of clients) await client.maskedInput([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
      for (const client of clients) await client.refresh();
      for (const client of clients) {
        const body = client.revealBody();
        secrets.push(...body.shares.map((share) => share.share));
        await client.reveal();
      }
      await settleLocalRuns();
    } finally {
      output.restore();
    }
    expect((await clients[0]!.refresh()).status).toBe('complete');
    // JSON lines only: Node's own warnings (the AWS SDK's about Node 20) go to stderr as text.
    const lines = output.lines().filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, any>);
    const closes = lines.filter((line) => line.message === 'secure round stage closed');
    expect(closes.map((line) => [line.stage, line.next, line.answered, line.expected])).toEqual([
      ['advertising', 'sharing', 3, 3],
      ['sharing', 'masking', 3, 3],
      ['masking', 'unmasking', 3, 3],
      ['unmasking', 'summing', 3, 3],
    ]);
    const emitted = lines.filter((line) => line._aws !== undefined);
    expect(emitted.filter((line) => line.SecureStagesClosed !== undefined).map((line) => line.stage).sort()).toEqual(['advertising', 'masking', 'sharing', 'unmasking']);
    expect(emitted.some((line) => line.SecureRoundsEnded !== undefined && line.outcome === 'complete')).toBe(true);
    const text = output.text();
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(text.includes(secret)).toBe(false);
  });
});
