import { captureOutput } from '../../helpers/log-capture';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import httpEvent from '../../fixtures/events/http-api-post.json';
import { testMongoUri, uniqueDatabaseName } from '../../helpers/database';

type ClientModule = typeof import('../../../lib/db/client');

/**
 * Where deployed functions find the connection string: MONGODB_URI when set, else the SSM
 * SecureString that MONGODB_URI_SSM_PARAMETER names, read through Powertools' Parameters utility
 * from a stand-in for Parameter Store on loopback (its JSON protocol, as the AWS SDK speaks it).
 * Each "container" is a fresh module registry (jest.isolateModulesAsync): its own config, client
 * and Powertools cache, as a new Lambda container has.
 */
describe('the connection string (MONGODB_URI, else an SSM SecureString)', () => {
  const PARAMETER = '/fma-serverless/test/mongodb-uri';
  const SENTINEL = 'sentinel-user:sentinel-p4ss';
  const uri = testMongoUri();
  const databaseName = uniqueDatabaseName();
  /** What the stand-in was asked, in order. */
  const received: { target: string | undefined; body: Record<string, unknown> }[] = [];
  /** The parameters the stand-in holds; `status` makes it fail instead. */
  const stand = { parameters: new Map<string, string>(), status: 200 };
  const closers: (() => Promise<void>)[] = [];
  let server: Server;

  beforeAll(async () => {
    server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const body = JSON.parse(text) as { Name: string };
        received.push({ target: request.headers['x-amz-target'] as string | undefined, body });
        response.setHeader('content-type', 'application/x-amz-json-1.1');
        // Slow enough that calls which arrive together are all waiting on the first read.
        setTimeout(() => {
          if (stand.status !== 200) {
            response.statusCode = stand.status;
            response.end(JSON.stringify({ __type: 'InternalServerError', message: 'stand-in failure' }));
            return;
          }
          const value = stand.parameters.get(body.Name);
          if (value === undefined) {
            response.statusCode = 400;
            response.end(JSON.stringify({ __type: 'ParameterNotFound', message: '' }));
            return;
          }
          response.end(JSON.stringify({ Parameter: { Name: body.Name, Type: 'SecureString', Value: value, Version: 1 } }));
        }, 50);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIATEST',
      AWS_SECRET_ACCESS_KEY: 'test',
      // One attempt: a failure of the stand-in is seen at once, not after the SDK's retries.
      AWS_MAX_ATTEMPTS: '1',
      MONGODB_DB_NAME: databaseName,
    });
  });
  beforeEach(() => {
    received.length = 0;
    stand.parameters = new Map([[PARAMETER, uri]]);
    stand.status = 200;
    delete process.env.MONGODB_URI;
    delete process.env.MONGODB_URI_SSM_PARAMETER;
  });
  afterAll(async () => {
    for (const close of closers) await close();
    process.env.MONGODB_URI = uri;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A new Lambda container: the modules evaluated afresh, with the environment as it is now. */
  async function container(): Promise<ClientModule> {
    let loaded: ClientModule | undefined;
    await jest.isolateModulesAsync(async () => {
      loaded = await import('../../../lib/db/client');
    });
    closers.push(() => loaded!.closeMongoClient());
    return loaded!;
  }

  it('uses MONGODB_URI when it is set and never asks Parameter Store, even when a parameter is named too', async () => {
    Object.assign(process.env, { MONGODB_URI: uri, MONGODB_URI_SSM_PARAMETER: PARAMETER });
    const { getDatabase } = await container();
    await expect((await getDatabase()).command({ ping: 1 })).resolves.toMatchObject({ ok: 1 });
    expect(received).toEqual([]);
  });

  it('reads the SecureString once per container, decrypted, even when 8 first calls race', async () => {
    process.env.MONGODB_URI_SSM_PARAMETER = PARAMETER;
    const first = await container();
    const clients = await Promise.all(Array.from({ length: 8 }, () => first.getMongoClient()));
    expect(new Set(clients).size).toBe(1);
    await expect(clients[0]!.db(databaseName).command({ ping: 1 })).resolves.toMatchObject({ ok: 1 });
    await first.getDatabase();
    expect(received).toEqual([{ target: 'AmazonSSM.GetParameter', body: { Name: PARAMETER, WithDecryption: true } }]);

    // Another container reads it again, once.
    const second = await container();
    await Promise.all([second.getDatabase(), second.getDatabase(), second.getMongoClient()]);
    expect(received).toHaveLength(2);
  });

  it('refuses with a ConfigurationError that says what to set when neither is set, asking nothing', async () => {
    const { getMongoClient } = await container();
    await expect(getMongoClient()).rejects.toMatchObject({
      name: 'ConfigurationError',
      statusCode: 500,
      message: expect.stringMatching(/MONGODB_URI.*MONGODB_URI_SSM_PARAMETER/),
    });
    expect(received).toEqual([]);
  });

  it('names a missing parameter in a ConfigurationError, and reads it again on the next call', async () => {
    process.env.MONGODB_URI_SSM_PARAMETER = '/fma-serverless/test/not-there';
    const { getMongoClient } = await container();
    await expect(getMongoClient()).rejects.toMatchObject({
      name: 'ConfigurationError',
      message: 'The SSM parameter /fma-serverless/test/not-there could not be read (ParameterNotFoundError)',
    });
    // Created since (a deployment fixed): the failure was not cached.
    stand.parameters.set('/fma-serverless/test/not-there', uri);
    await expect(getMongoClient()).resolves.toBeDefined();
    expect(received).toHaveLength(2);
  });

  it('answers a DependencyError (503, retryable) when Parameter Store fails', async () => {
    process.env.MONGODB_URI_SSM_PARAMETER = PARAMETER;
    stand.status = 500;
    const { getMongoClient } = await container();
    await expect(getMongoClient()).rejects.toMatchObject({ name: 'DependencyError', statusCode: 503 });
  });

  it('never puts a value that is no connection string into an error, a response or the log', async () => {
    process.env.MONGODB_URI_SSM_PARAMETER = PARAMETER;
    stand.parameters.set(PARAMETER, `http://${SENTINEL}@db.example:27017`);
    const { getMongoClient } = await container();
    const error = (await getMongoClient().catch((e: unknown) => e)) as Error & { cause?: unknown };
    expect(error).toMatchObject({ name: 'ConfigurationError', statusCode: 500 });
    expect(`${error.message} ${error.stack} ${String(error.cause)}`).not.toContain('sentinel');

    // Through a handler, as API Gateway calls it: a bare 500, and the log holds no value either.
    const output = captureOutput();
    try {
      let handler: ((event: unknown, context: Context) => Promise<unknown>) | undefined;
      await jest.isolateModulesAsync(async () => {
        ({ handler } = await import('../../../functions/connector/pull-model-requirements'));
      });
      const response = (await handler!(httpEvent, { awsRequestId: 'r' } as Context)) as { statusCode: number; body: string };
      expect(response.statusCode).toBe(500);
      expect(JSON.parse(response.body)).toEqual({ error: 'InternalError', message: 'Internal server error' });
      // Logged once, as a JSON line with the error's class, message and stack.
      const [failed] = output.json().filter((line) => line.message === 'failed');
      expect(failed!.error).toMatchObject({ name: 'ConfigurationError', message: expect.stringMatching(/The SSM parameter .* holds no MongoDB connection string/) });
      expect(output.text()).not.toContain('sentinel');
    } finally {
      output.restore();
    }
  });
});
