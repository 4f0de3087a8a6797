import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import definition from '../../state-machines/aggregation.json';

const root = path.resolve(__dirname, '..', '..');
const output = path.join(root, '.cache', 'package-test');

describe('serverless package (no AWS account)', () => {
  let template: {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }>;
  };

  beforeAll(async () => {
    await rm(output, { recursive: true, force: true });
    await promisify(execFile)(
      process.execPath,
      [path.join(root, 'node_modules', 'serverless', 'bin', 'serverless.js'), 'package', '--package', output],
      {
        cwd: root,
        env: {
          // What is deployed must not depend on the test's local object store.
          ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('S3_'))),
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
    expect(functions.length).toBe(24);
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
        'GET /aggregation/runs/{name}',
        'ANY /api/v1/{proxy+}',
        'GET /dashboard',
        'GET /dashboard/{file+}',
      ]),
    );
  });

  it('serves the dashboard from a function that can reach neither the weights nor the database', () => {
    const dashboard = template.Resources.DashboardLambdaFunction!;
    expect(dashboard.Properties.Role).toEqual({ 'Fn::GetAtt': ['NoWeightsRole', 'Arn'] });
    expect((dashboard.Properties.Environment as { Variables: Record<string, unknown> }).Variables.MONGODB_URI).toBe('');
  });

  it('lets only IAM-signed requests reach the operator routes; the client API and health stay open', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map((route) => [
      route.Properties.RouteKey as string,
      route.Properties.AuthorizationType ?? 'NONE',
    ]);
    for (const [key, authorization] of routes) {
      const operator = /^(POST|GET) \/(connector|aggregation)\//.test(String(key));
      expect({ key, authorization }).toEqual({ key, authorization: operator ? 'AWS_IAM' : 'NONE' });
    }
    expect(routes.filter(([, authorization]) => authorization === 'AWS_IAM')).toHaveLength(13);
  });

  describe('the weights bucket', () => {
    type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
    const bucket = () => template.Resources.WeightsBucket!;
    const fn = (name: string) => template.Resources[`${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`]!;
    /** The S3 actions a function's role allows on the bucket's objects and on the bucket. */
    const s3Actions = (name: string) => {
      const role = (fn(name).Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const policies = template.Resources[role]!.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[];
      const managed = template.Resources[role]!.Properties.ManagedPolicyArns as string[];
      expect(managed.join()).not.toMatch(/S3/i);
      const allowed = policies.flatMap((policy) => policy.PolicyDocument.Statement).filter((s) => s.Effect === 'Allow');
      return allowed.flatMap((statement) => [statement.Action].flat().filter((action) => action.startsWith('s3:')));
    };

    it('is encrypted, private, owner-enforced, kept when the stack goes, and refuses plain HTTP', () => {
      const { Properties: properties } = bucket();
      expect(bucket().Type).toBe('AWS::S3::Bucket');
      expect(bucket().DeletionPolicy).toBe('Retain');
      expect(properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      const [policy] = ofType('AWS::S3::BucketPolicy').filter((p) => JSON.stringify(p.Properties.Bucket) === '{"Ref":"WeightsBucket"}');
      const statements = (policy!.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    });

    it('aborts incomplete multipart uploads after a day and expires abandoned uploads/ after two', () => {
      const rules = (bucket().Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
      expect(rules).toContainEqual(
        expect.objectContaining({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
      );
      expect(rules).toContainEqual(expect.objectContaining({ Status: 'Enabled', Prefix: 'uploads/', ExpirationInDays: 2 }));
    });

    it('is named to every function through S3_BUCKET', () => {
      for (const lambda of ofType('AWS::Lambda::Function')) {
        expect((lambda.Properties.Environment as { Variables: Record<string, unknown> }).Variables.S3_BUCKET).toEqual({
          Ref: 'WeightsBucket',
        });
      }
    });

    it('grants each function only the S3 actions it uses', () => {
      expect(s3Actions('health')).toEqual([]);
      expect(s3Actions('dashboard')).toEqual([]);
      expect(s3Actions('startScheduledAggregations')).toEqual([]);
      expect(s3Actions('registerModelUpdatesForAggregation')).toEqual([]);
      expect(s3Actions('pullLatestModelAggregate').sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
      const aggregate = s3Actions('aggregateUpdates');
      expect(aggregate).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
      expect(aggregate).not.toContain('s3:DeleteObject');
      expect(s3Actions('postNewModelAggregate')).not.toContain('s3:DeleteObject');
      expect(s3Actions('api')).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject', 's3:DeleteObject']));
      for (const lambda of ofType('AWS::Lambda::Function')) {
        expect(JSON.stringify(lambda.Properties.Role)).not.toMatch(/IamRoleLambdaExecution/);
      }
    });

    it('lets every role still start the aggregation state machine, as the provider role did', () => {
      for (const name of ['startScheduledAggregations', 'runAggregationNow', 'api']) {
        const role = (fn(name).Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        expect(JSON.stringify(template.Resources[role]!.Properties.Policies)).toContain('states:StartExecution');
      }
    });
  });
});
