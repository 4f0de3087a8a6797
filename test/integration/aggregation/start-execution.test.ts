import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAggregationRun, startRunForNewUpdate } from '../../../lib/aggregation/start-run';
import { MongoMetadataConnector } from '../../../lib/connector';
import { useTestDatabase } from '../../helpers/database';

/**
 * StartExecution as the AWS SDK sends it, against a stand-in for the Step Functions endpoint on
 * loopback (there is no Step Functions service here): checks what we send, and that a repeated
 * execution name (a duplicate trigger) is harmless.
 */
describe('starting a run on Step Functions', () => {
  const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:fma-serverless-test-aggregation';
  const received: { target: string | undefined; body: Record<string, string> }[] = [];
  const started = new Set<string>();
  let server: Server;
  const database = useTestDatabase();

  beforeAll(async () => {
    server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const body = JSON.parse(text) as Record<string, string>;
        received.push({ target: request.headers['x-amz-target'] as string | undefined, body });
        response.setHeader('content-type', 'application/x-amz-json-1.0');
        if (started.has(body.name!)) {
          response.statusCode = 400;
          response.end(JSON.stringify({ __type: 'ExecutionAlreadyExists', message: `Execution Already Exists: '${body.name}'` }));
          return;
        }
        started.add(body.name!);
        response.end(JSON.stringify({ executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:${body.name}`, startDate: 1 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AGGREGATION_EXECUTOR: 'stepfunctions',
      AGGREGATION_STATE_MACHINE_ARN: ARN,
      AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIATEST',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('starts an execution named for the trigger, with the model and run as input', async () => {
    const result = await startAggregationRun(5, 'model-5-update-9');
    expect(result).toEqual({
      model: 5,
      run: 'model-5-update-9',
      started: true,
      executionArn: expect.stringMatching(/:execution:.*:model-5-update-9$/),
    });
    expect(received[0]).toEqual({
      target: 'AWSStepFunctions.StartExecution',
      body: { stateMachineArn: ARN, name: 'model-5-update-9', input: JSON.stringify({ model: 5, run: 'model-5-update-9' }) },
    });
  });

  it('treats a second execution of the same name as a harmless duplicate', async () => {
    await expect(startAggregationRun(5, 'model-5-update-9')).resolves.toEqual({
      model: 5,
      run: 'model-5-update-9',
      started: false,
    });
    expect(received).toHaveLength(2);
  });

  it('starts a model\'s run of the minute from its first submission, and the next ones of that minute ask nothing (issue #25)', async () => {
    const connector = new MongoMetadataConnector(database.db);
    await connector.updateDatabase();
    const client = await connector.createClient();
    const model = await connector.createFederatedModel({ name: 'm', aggregator: 'avg_values_if_data', clients: [client.id], allowAggregation: true });
    const before = received.length;
    for (let i = 0; i < 4; i += 1) {
      const update = await connector.createModelUpdate({ federatedModel: model.id, client: client.id, data: [i] });
      await startRunForNewUpdate(connector, update, model);
    }
    const names = received.slice(before).map((request) => request.body.name);
    // One start per minute (two if the minute turned meanwhile), never one refused as a duplicate.
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(new RegExp(`^model-${model.id}-update-\\d{12}$`));
  });
});
