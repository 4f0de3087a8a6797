import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import definition from '../../state-machines/aggregation.json';

const root = path.resolve(__dirname, '..', '..');
const output = path.join(root, '.cache', 'package-test');

describe('serverless package (no AWS account)', () => {
  let template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };

  beforeAll(async () => {
    await rm(output, { recursive: true, force: true });
    await promisify(execFile)(
      process.execPath,
      [path.join(root, 'node_modules', 'serverless', 'bin', 'serverless.js'), 'package', '--package', output],
      {
        cwd: root,
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: 'AKIADUMMY',
          AWS_SECRET_ACCESS_KEY: 'dummy',
          SLS_TELEMETRY_DISABLED: '1',
          FMA_ESBUILD_WORK_FOLDER: '.esbuild/package-test',
        },
        timeout: 240_000,
      },
    );
    template = JSON.parse(await readFile(path.join(output, 'cloudformation-template-update-stack.json'), 'utf8'));
  }, 300_000);

  const ofType = (type: string) => Object.values(template.Resources).filter((resource) => resource.Type === type);

  it('emits every function on nodejs22.x, one bundle each', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBe(20);
    for (const fn of functions) expect(fn.Properties.Runtime).toBe('nodejs22.x');
  });

  it('emits the aggregation state machine from state-machines/aggregation.json, its tasks bound to the Lambdas', () => {
    const [machine] = ofType('AWS::StepFunctions::StateMachine');
    const [text, substitutions] = (machine!.Properties.DefinitionString as { 'Fn::Sub': [string, Record<string, unknown>] })['Fn::Sub'];
    const deployed = JSON.parse(text) as typeof definition;
    expect(Object.keys(deployed.States)).toEqual(Object.keys(definition.States));
    const tasks = Object.values(definition.States).filter((state) => state.Type === 'Task');
    const bound = new Set(Object.values(substitutions).map((value) => JSON.stringify(value)));
    for (const task of tasks) {
      const [fn] = (task as unknown as { Resource: { 'Fn::GetAtt': [string, string] } }).Resource['Fn::GetAtt'];
      const logicalId = `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
      expect(bound).toContain(JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }));
    }
  });

  it('emits the every-minute schedule and the HTTP routes', () => {
    const rules = ofType('AWS::Events::Rule');
    expect(rules.map((rule) => rule.Properties.ScheduleExpression)).toEqual(['rate(1 minute)']);
    const routes = ofType('AWS::ApiGatewayV2::Route').map((route) => route.Properties.RouteKey);
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /health',
        'POST /connector/register_model_updates_for_aggregation',
        'POST /aggregation/run',
        'ANY /api/v1/{proxy+}',
      ]),
    );
  });

  it('lets only IAM-signed requests reach the operator routes; the client API and health stay open', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map((route) => [
      route.Properties.RouteKey as string,
      route.Properties.AuthorizationType ?? 'NONE',
    ]);
    for (const [key, authorization] of routes) {
      const operator = /^POST \/(connector|aggregation)\//.test(String(key));
      expect({ key, authorization }).toEqual({ key, authorization: operator ? 'AWS_IAM' : 'NONE' });
    }
    expect(routes.filter(([, authorization]) => authorization === 'AWS_IAM')).toHaveLength(12);
  });
});
