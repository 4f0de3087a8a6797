import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import definition from '../../state-machines/aggregation.json';
import { readZip } from '../helpers/zip';

const root = path.resolve(__dirname, '..', '..');
const output = path.join(root, '.cache', 'package-test');

/**
 * A connection string in the environment of `serverless package`, as a careless deploy would
 * have it: none of its parts may reach what is deployed.
 */
const SENTINEL = { user: 'fma-sentinel-user-5e1f', password: 'fma-sentinel-p4ss-9c2d', host: 'fma-sentinel-host-7a3b.example' };
const SENTINEL_URI = `mongodb://${SENTINEL.user}:${SENTINEL.password}@${SENTINEL.host}:27017/fma?authSource=admin`;
/** The parameter the functions read the connection string from, by default (stage dev). */
const PARAMETER = '/fma-serverless/dev/mongodb-uri';

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
          // What is deployed must not depend on the test's local object store or database.
          ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(S3_|MONGODB_URI)/.test(name))),
          MONGODB_URI: SENTINEL_URI,
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
    expect(functions.length).toBe(33);
    for (const fn of functions) expect(fn.Properties.Runtime).toBe('nodejs22.x');
  });

  it('puts the local executor (aws-local-stepfunctions and every aggregation task in-process) into no bundle (issue #30)', async () => {
    const zips = (await readdir(output)).filter((name) => name.endsWith('.zip'));
    expect(zips).toHaveLength(33);
    for (const zip of zips) {
      const [bundle] = readZip(await readFile(path.join(output, zip))).filter((entry) => entry.name.endsWith('.js'));
      // An option name of the interpreter's, which minification keeps; the api bundle had it before.
      expect({ zip, localExecutor: bundle!.data.includes('taskResourceLocalHandlers') }).toEqual({ zip, localExecutor: false });
    }
  });

  it('emits the aggregation state machine from state-machines/aggregation.json, its tasks bound to the Lambdas', () => {
    const [machine] = ofType('AWS::StepFunctions::StateMachine');
    const [text, substitutions] = (machine!.Properties.DefinitionString as { 'Fn::Sub': [string, Record<string, unknown>] })['Fn::Sub'];
    const deployed = JSON.parse(text) as typeof definition;
    expect(Object.keys(deployed.States)).toEqual(Object.keys(definition.States));
    type AnyState = { Type: string; ItemProcessor?: { States: Record<string, AnyState> } };
    const flatten = (states: Record<string, AnyState>): AnyState[] =>
      Object.values(states).flatMap((state) => [state, ...(state.ItemProcessor === undefined ? [] : flatten(state.ItemProcessor.States))]);
    const tasks = flatten(definition.States as Record<string, AnyState>).filter((state) => state.Type === 'Task');
    // The shard tasks inside the Maps (issue #14) are bound too.
    expect(tasks.length).toBeGreaterThan(Object.values(definition.States).filter((state) => state.Type === 'Task').length);
    const bound = new Set(Object.values(substitutions).map((value) => JSON.stringify(value)));
    for (const task of tasks) {
      const [fn] = (task as unknown as { Resource: { 'Fn::GetAtt': [string, string] } }).Resource['Fn::GetAtt'];
      const logicalId = `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
      expect(bound).toContain(JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }));
    }
  });

  it('runs the shards as Distributed Maps whose ItemReader reads the shard list from the weights bucket (issue #14)', () => {
    const [machine] = ofType('AWS::StepFunctions::StateMachine');
    const [text, substitutions] = (machine!.Properties.DefinitionString as { 'Fn::Sub': [string, Record<string, unknown>] })['Fn::Sub'];
    const deployed = JSON.parse(text) as { States: Record<string, Record<string, unknown>> };
    for (const name of ['MeasureShards', 'AggregateShards']) {
      const map = deployed.States[name] as {
        ItemReader: { Resource: string; Parameters: { Bucket: string; 'Key.$': string } };
        ItemProcessor: { ProcessorConfig: { Mode: string } };
        MaxConcurrency: number;
      };
      expect(map.ItemProcessor.ProcessorConfig.Mode).toBe('DISTRIBUTED');
      expect(map.ItemReader.Resource).toBe('arn:aws:states:::s3:getObject');
      expect(map.ItemReader.Parameters['Key.$']).toBe('$.plan.shard_list');
      const bucket = /^\$\{(\w+)\}$/.exec(map.ItemReader.Parameters.Bucket)?.[1];
      expect(bucket === undefined ? map.ItemReader.Parameters.Bucket : substitutions[bucket]).toEqual({ Ref: 'WeightsBucket' });
      expect(map.MaxConcurrency).toBeGreaterThan(1);
    }
    // Its role may read the shard list and start the Map's child executions.
    const role = template.Resources[(machine!.Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]]!;
    const actions = JSON.stringify(role.Properties.Policies);
    expect(actions).toContain('s3:GetObject');
    expect(actions).toContain('states:StartExecution');
    // ... and describe and stop them: their ARNs are execution:<state machine>/<label>:<id>.
    const statements = (role.Properties.Policies as { PolicyDocument: { Statement: { Action: string[]; Resource: unknown }[] } }[]).flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );
    const children = statements.find((statement) => /:execution:fma-serverless-\w+-aggregation\/\*/.test(JSON.stringify(statement.Resource)));
    expect(children?.Action).toEqual(['states:DescribeExecution', 'states:StopExecution']);
  });

  it('emits the every-minute schedule and the HTTP routes', () => {
    const rules = ofType('AWS::Events::Rule');
    expect(rules.map((rule) => rule.Properties.ScheduleExpression)).toEqual(['rate(1 minute)', 'rate(1 day)']);
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

  describe('operations (issue #27)', () => {
    const resourcesOf = (type: string) =>
      Object.entries(template.Resources).filter(([, resource]) => resource.Type === type) as [string, { Type: string; Condition?: string; Properties: Record<string, any> }][];

    it('traces every function and the state machine with X-Ray, and configures Powertools in every function', () => {
      for (const [id, lambda] of resourcesOf('AWS::Lambda::Function')) {
        expect({ id, tracing: lambda.Properties.TracingConfig }).toEqual({ id, tracing: { Mode: 'Active' } });
        expect(lambda.Properties.Environment.Variables).toMatchObject({
          POWERTOOLS_SERVICE_NAME: 'fma-serverless',
          POWERTOOLS_METRICS_NAMESPACE: 'FmaServerless',
          POWERTOOLS_TRACE_ENABLED: 'true',
        });
      }
      const machines = resourcesOf('AWS::StepFunctions::StateMachine');
      expect(machines).toHaveLength(1);
      expect(machines[0]![1].Properties.TracingConfiguration).toEqual({ Enabled: true });
    });

    it('declares the alarms, each sending to the alarm topic, whose email subscription is a deploy parameter', () => {
      const alarms = Object.fromEntries(resourcesOf('AWS::CloudWatch::Alarm'));
      expect(Object.keys(alarms).sort()).toEqual(
        ['AggregationRunsFailedAlarm', 'Api5xxRateAlarm', 'LambdaErrorsAlarm', 'LambdaThrottlesAlarm', 'PendingUpdatesWaitAlarm'].sort(),
      );
      for (const alarm of Object.values(alarms)) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
      const metricsOf = (alarm: string) =>
        (alarms[alarm]!.Properties.Metrics as { MetricStat?: { Metric: { Namespace: string; MetricName: string } }; Expression?: string }[]);
      const named = (alarm: string) => metricsOf(alarm).flatMap((m) => (m.MetricStat === undefined ? [] : [`${m.MetricStat.Metric.Namespace}/${m.MetricStat.Metric.MetricName}`]));
      expect(named('AggregationRunsFailedAlarm')).toEqual(['AWS/States/ExecutionsFailed', 'AWS/States/ExecutionsTimedOut']);
      expect(new Set(named('LambdaErrorsAlarm'))).toEqual(new Set(['AWS/Lambda/Errors']));
      expect(new Set(named('LambdaThrottlesAlarm'))).toEqual(new Set(['AWS/Lambda/Throttles']));
      // The API function and the aggregation's are among those watched.
      const watched = metricsOf('LambdaErrorsAlarm').flatMap((m) => (m.MetricStat === undefined ? [] : [(m.MetricStat.Metric as any).Dimensions[0].Value]));
      expect(watched).toEqual(expect.arrayContaining(['fma-serverless-dev-api', 'fma-serverless-dev-aggregateUpdates', 'fma-serverless-dev-verifyModelUpdateUpload']));
      expect(named('Api5xxRateAlarm')).toEqual(['AWS/ApiGateway/5xx', 'AWS/ApiGateway/Count']);
      expect(alarms.PendingUpdatesWaitAlarm!.Properties).toMatchObject({
        Namespace: 'FmaServerless',
        MetricName: 'OldestPendingUpdateAge',
        Statistic: 'Maximum',
        Threshold: 3600,
      });
      expect(template.Resources.AlarmTopic!.Type).toBe('AWS::SNS::Topic');
      expect(template.Resources.AlarmEmailSubscription).toMatchObject({ Type: 'AWS::SNS::Subscription', Condition: 'HasAlarmEmail' });
    });

    it('declares a CloudWatch dashboard of the key metrics, valid JSON once substituted', () => {
      const dashboards = resourcesOf('AWS::CloudWatch::Dashboard');
      expect(dashboards).toHaveLength(1);
      const [body, values] = dashboards[0]![1].Properties.DashboardBody['Fn::Sub'] as [string, Record<string, unknown>];
      const substituted = body.replace(/\$\{([A-Za-z:]+)\}/g, (_, name: string) => (name === 'PendingThreshold' ? '3600' : name));
      const widgets = (JSON.parse(substituted) as { widgets: { properties: { title: string; metrics: unknown[] } }[] }).widgets;
      const text = JSON.stringify(widgets);
      for (const metric of ['UpdatesAccepted', 'UpdatesRefused', 'RunsStarted', 'RunsAggregated', 'RunsFailed', 'RunDuration', 'OldestPendingUpdateAge', 'UpdatesPerRun', 'BytesAggregatedPerSecond', 'LeaseConflicts', 'ExecutionsFailed', '5xx']) {
        expect(text).toContain(metric);
      }
      expect(values.Namespace).toBe('FmaServerless');
    });
  });

  it('throttles the HTTP API stage (issue #24; one caller is bounded by the service itself)', () => {
    expect(template.Resources.HttpApiStage!.Properties.DefaultRouteSettings).toEqual({
      DetailedMetricsEnabled: false,
      ThrottlingRateLimit: 1000,
      ThrottlingBurstLimit: 500,
    });
  });

  it('serves the dashboard from a function that can reach neither the weights nor the database', () => {
    const dashboard = template.Resources.DashboardLambdaFunction!;
    expect(dashboard.Properties.Role).toEqual({ 'Fn::GetAtt': ['LogsOnlyRole', 'Arn'] });
    const variables = (dashboard.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables.MONGODB_URI).toBe('');
    expect(variables.MONGODB_URI_SSM_PARAMETER).toBe('');
  });

  describe('the connection string', () => {
    /** Every file `serverless package` wrote, with the files inside each zip. */
    const written = async () => {
      const files: { name: string; data: Buffer }[] = [];
      for (const name of await readdir(output, { recursive: true })) {
        const data = await readFile(path.join(output, name)).catch(() => undefined); // folders
        if (data === undefined) continue;
        if (name.endsWith('.zip')) files.push(...readZip(data).map((entry) => ({ name: `${name}:${entry.name}`, data: entry.data })));
        else files.push({ name, data });
      }
      return files;
    };

    it('is nowhere in the template, the framework\'s state or any bundle, though it was in the environment', async () => {
      const files = await written();
      const names = files.map((file) => file.name);
      expect(names).toEqual(expect.arrayContaining(['cloudformation-template-update-stack.json', 'serverless-state.json']));
      // Every function's bundle was opened (a zip that could not be read would have thrown).
      expect(names.filter((name) => /\.zip:functions\/.*\.js$/.test(name))).toHaveLength(33);
      for (const file of files) {
        for (const part of [SENTINEL_URI, SENTINEL.user, SENTINEL.password, SENTINEL.host]) {
          expect({ file: file.name, found: file.data.includes(part) }).toEqual({ file: file.name, found: false });
        }
      }
    });

    it('is read from one SSM parameter, named to every function that uses the database', () => {
      for (const [name, resource] of Object.entries(template.Resources)) {
        if (resource.Type !== 'AWS::Lambda::Function') continue;
        const variables = (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        const dashboard = name === 'DashboardLambdaFunction';
        expect({ name, parameter: variables.MONGODB_URI_SSM_PARAMETER }).toEqual({ name, parameter: dashboard ? '' : PARAMETER });
        expect({ name, uri: variables.MONGODB_URI }).toEqual({ name, uri: dashboard ? '' : undefined });
      }
    });
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
      const policies = (template.Resources[role]!.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[];
      const managed = template.Resources[role]!.Properties.ManagedPolicyArns as string[];
      expect(JSON.stringify(managed)).not.toMatch(/S3/i);
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
  });

  describe('IAM: each function may do what it uses and nothing else', () => {
    type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
    const DATABASE = ['ssm:GetParameter'];
    const START_RUNS = ['states:StartExecution'];
    const READ_WEIGHTS = ['s3:ListBucket', 's3:GetObject'];
    const WRITE_WEIGHTS = [...READ_WEIGHTS, 's3:PutObject', 's3:AbortMultipartUpload'];
    /** Every function, and the actions it uses (beyond writing its logs). */
    const USES: Record<string, string[]> = {
      health: DATABASE,
      pullFederatedModelWId: DATABASE,
      pullLatestModelAggregate: [...DATABASE, ...READ_WEIGHTS],
      pullModelUpdatesReadyForAggregation: [...DATABASE, ...READ_WEIGHTS],
      pullModelRequirements: DATABASE,
      registerModelUpdatesForAggregation: DATABASE,
      pullModelUpdatesRegisteredForAggregation: [...DATABASE, ...READ_WEIGHTS],
      postNewModelAggregate: [...DATABASE, ...WRITE_WEIGHTS],
      pullModelUpdatesPendingAggregation: [...DATABASE, ...READ_WEIGHTS],
      registerModelUpdateUsedInAggregate: DATABASE,
      registerModelUpdatesUseInAggregationComplete: DATABASE,
      updateDatabase: DATABASE,
      acquireAggregationLease: DATABASE,
      releaseAggregationLease: DATABASE,
      checkAggregationRequirement: DATABASE,
      claimAggregationUpdates: DATABASE,
      completeAggregationRun: DATABASE,
      aggregateUpdates: [...DATABASE, ...WRITE_WEIGHTS],
      sumSecureRound: [...DATABASE, ...WRITE_WEIGHTS],
      failAggregationRun: DATABASE,
      // Sharded aggregation (issue #14): the manifest, ranged reads, parts of a multipart upload.
      planAggregation: [...DATABASE, ...WRITE_WEIGHTS],
      measureShard: [...DATABASE, ...WRITE_WEIGHTS],
      reduceShardMeasures: [...DATABASE, ...WRITE_WEIGHTS],
      aggregateShard: [...DATABASE, ...WRITE_WEIGHTS],
      completeShardedAggregation: [...DATABASE, ...READ_WEIGHTS, 's3:PutObject', 's3:ListMultipartUploadParts'],
      discardShardedAggregation: [...DATABASE, ...READ_WEIGHTS, 's3:AbortMultipartUpload'],
      // On AWS it asks Step Functions only (the database holds the local executor's records).
      describeAggregationRun: ['states:DescribeExecution'],
      startScheduledAggregations: [...DATABASE, ...START_RUNS],
      runAggregationNow: [...DATABASE, ...START_RUNS],
      // Clients' updates start runs; deleting a model deletes its weights.
      // ... and hand large uploads to the verification function (issue #24).
      api: [...DATABASE, ...START_RUNS, ...WRITE_WEIGHTS, 's3:DeleteObject', 'lambda:InvokeFunction'],
      // Copies an upload to its place, checks it, deletes what it refuses; a new update may start a run.
      verifyModelUpdateUpload: [...DATABASE, ...START_RUNS, ...READ_WEIGHTS, 's3:PutObject', 's3:DeleteObject'],
      dashboard: [],
      // Daily: lists the bucket, deletes objects no document refers to.
      sweepOrphanedWeights: [...DATABASE, 's3:ListBucket', 's3:DeleteObject'],
    };
    const logicalId = (name: string) => `${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`;
    const roleOf = (name: string) => {
      const role = (template.Resources[logicalId(name)]!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      return template.Resources[role]!;
    };
    const statementsOf = (name: string) =>
      ((roleOf(name).Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
        (policy) => policy.PolicyDocument.Statement,
      );
    const sub = (text: string) => ({ 'Fn::Sub': text });

    it('has a row in this table for every function in the template', () => {
      const functions = Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::Lambda::Function');
      expect(functions.map(([id]) => id).sort()).toEqual(Object.keys(USES).map(logicalId).sort());
    });

    it.each(Object.entries(USES))('%s: its role allows exactly what it uses', (name, uses) => {
      const statements = statementsOf(name);
      for (const statement of statements) expect(statement.Effect).toBe('Allow');
      const allowed = statements.flatMap((statement) => [statement.Action].flat());
      expect([...allowed].sort()).toEqual([...uses].sort());
      // Logs and traces only, by the Lambda basic execution and X-Ray write policies; no other managed policy.
      expect(roleOf(name).Properties.ManagedPolicyArns).toEqual([
        sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'),
        sub('arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess'),
      ]);
    });

    it('grants the Step Functions actions to exactly the bundles that call them (code and table agree)', async () => {
      // The SFN client stays out of the bundles (the runtime ships it), so each call is a named
      // property of the required module and survives minification.
      for (const name of Object.keys(USES)) {
        const [bundle] = readZip(await readFile(path.join(output, `${name}.zip`))).filter((entry) => entry.name.endsWith('.js'));
        const calls = ['StartExecution', 'DescribeExecution'].filter((action) => bundle!.data.includes(`${action}Command`));
        const granted = USES[name]!.filter((action) => action.startsWith('states:')).map((action) => action.slice('states:'.length));
        expect({ name, calls }).toEqual({ name, calls: granted });
      }
    });

    it('scopes each grant to its one resource: the parameter, the state machine, its executions, the bucket', () => {
      const expected: Record<string, unknown> = {
        'ssm:GetParameter': sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${PARAMETER}`),
        'states:StartExecution': sub(
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:fma-serverless-dev-aggregation',
        ),
        'states:DescribeExecution': sub(
          'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:fma-serverless-dev-aggregation:*',
        ),
        's3:ListBucket': { 'Fn::GetAtt': ['WeightsBucket', 'Arn'] },
        'lambda:InvokeFunction': sub(
          'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:fma-serverless-dev-verifyModelUpdateUpload',
        ),
      };
      for (const name of Object.keys(USES)) {
        for (const statement of statementsOf(name)) {
          expect(JSON.stringify(statement.Resource)).not.toMatch(/^"\*"$|\["\*"\]/);
          for (const action of [statement.Action].flat()) {
            expect(statement.Resource).toEqual(expected[action] ?? sub('${WeightsBucket.Arn}/*'));
          }
        }
      }
    });
  });
});
