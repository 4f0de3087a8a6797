import { z } from 'zod';
import { ConfigurationError } from './errors';

/**
 * Every setting the service reads from its environment, in one place. Nothing else in the project
 * reads `process.env` at run time (scripts that start servers set it; they never read settings).
 */
/** Unset and empty mean the same: deploy tools write '' for a variable that has no value. */
const blankAsUnset = (value: unknown) => (value === '' ? undefined : value);

/** What a MongoDB connection string starts with. */
export const MONGODB_URI_PATTERN = /^mongodb(\+srv)?:\/\//;

const ConfigSchema = z.object({
  /**
   * Connection string of the MongoDB deployment (or MongoDB-compatible server): the local
   * override (`npm start` and the tests set it; serverless-offline passes it on). When set,
   * MONGODB_URI_SSM_PARAMETER is not read. Deployed functions never have it: serverless.yml does
   * not pass it on, so it cannot end up in the CloudFormation template.
   */
  MONGODB_URI: z.preprocess(
    blankAsUnset,
    z.string().regex(MONGODB_URI_PATTERN, 'must be a mongodb:// or mongodb+srv:// URI').optional(),
  ),
  /**
   * Name of the SSM Parameter Store SecureString that holds the connection string (deployed
   * functions; serverless.yml sets it and grants `ssm:GetParameter` on exactly that parameter).
   * Read once per container, when the first call needs the database (lib/db/client.ts).
   */
  MONGODB_URI_SSM_PARAMETER: z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'must be a parameter name from the root, e.g. /fma-serverless/prod/mongodb-uri')
      .max(1_011)
      .optional(),
  ),
  /** Name of the database that holds the service's collections. */
  MONGODB_DB_NAME: z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be 1-63 letters, digits, "_" or "-"')
      .default('fma'),
  ),
  /** How long a call waits for a usable server before failing; keep it well under the Lambda timeout. */
  MONGODB_SERVER_SELECTION_TIMEOUT_MS: z.preprocess(blankAsUnset, z.coerce.number().int().positive().default(5_000)),
  /** Connections per Lambda container: one invocation at a time needs few. */
  MONGODB_MAX_POOL_SIZE: z.preprocess(blankAsUnset, z.coerce.number().int().positive().default(5)),
  /** Idle connections are closed after this long, so a frozen container does not hoard them. */
  MONGODB_MAX_IDLE_TIME_MS: z.preprocess(blankAsUnset, z.coerce.number().int().nonnegative().default(60_000)),
  /**
   * How a run is started: `stepfunctions` (StartExecution of AGGREGATION_STATE_MACHINE_ARN) when
   * deployed, `local` (the same definition, executed in-process) under `npm start`.
   */
  AGGREGATION_EXECUTOR: z.preprocess(blankAsUnset, z.enum(['stepfunctions', 'local']).default('stepfunctions')),
  // Not checked for an `arn:` prefix: serverless-offline passes CloudFormation's `!Sub` through
  // unresolved, and the local executor never reads it.
  AGGREGATION_STATE_MACHINE_ARN: z.preprocess(blankAsUnset, z.string().optional()),
  /**
   * How long a run's lease on its model lasts without renewal. Each task of a run renews it, and
   * the aggregation renews it every quarter of this while it streams, so a live run keeps it; a
   * run that died holds its model for at most this long.
   */
  AGGREGATION_LEASE_SECONDS: z.preprocess(blankAsUnset, z.coerce.number().int().min(10).max(3_600).default(60)),
  /** Failed runs an update goes through before it is given up on (INVALID, with the reason). */
  AGGREGATION_MAX_ATTEMPTS: z.preprocess(blankAsUnset, z.coerce.number().int().min(1).max(100).default(3)),
  /**
   * Sharded aggregation (issue #14, lib/aggregation/shard-plan.ts): `auto` splits a round across
   * a Map of shard Lambdas when one task could not hold it within the limits below; `off` always
   * aggregates in one task.
   */
  AGGREGATION_SHARDING: z.preprocess(blankAsUnset, z.enum(['auto', 'off']).default('auto')),
  /** Memory of the aggregation and shard functions for buffers, in MiB: their 1,769 MB less the runtime's share. */
  AGGREGATION_TASK_BUFFER_MB: z.preprocess(blankAsUnset, z.coerce.number().int().min(64).max(10_240).default(1_200)),
  /** Bytes (MiB) one task may read within its 540 s: beyond, the round is sharded. */
  AGGREGATION_SINGLE_TASK_MAX_READ_MB: z.preprocess(blankAsUnset, z.coerce.number().int().positive().default(16_384)),
  /** Bytes (MiB) each shard may read: with the above, sets K. */
  AGGREGATION_SHARD_MAX_READ_MB: z.preprocess(blankAsUnset, z.coerce.number().int().positive().default(4_096)),
  /** At most this many shards (the Map's items; the Distributed Map runs up to MaxConcurrency at a time). */
  AGGREGATION_MAX_SHARDS: z.preprocess(blankAsUnset, z.coerce.number().int().min(1).max(5_000).default(1_000)),
  /**
   * Binary uploads one client may have declared and not yet completed on one model (issue #24):
   * past either bound a declaration is 429 with Retry-After. Each open upload holds a PUT URL.
   */
  UPLOAD_MAX_OPEN_PER_CLIENT: z.preprocess(blankAsUnset, z.coerce.number().int().min(1).max(1_000).default(4)),
  /**
   * New clients one source address may register in a minute (POST register_client/ without
   * CLIENT-UUID); past it, 429 with Retry-After. 0: no limit. API Gateway's HTTP API throttles a
   * stage or a route only, never one caller, so this is counted in the database.
   */
  REGISTRATIONS_PER_SOURCE_PER_MINUTE: z.preprocess(blankAsUnset, z.coerce.number().int().min(0).default(600)),
  /** The bytes (MiB) those open uploads may declare in all. */
  UPLOAD_MAX_OPEN_MB_PER_CLIENT: z.preprocess(blankAsUnset, z.coerce.number().int().min(1).default(4_096)),
  /**
   * Uploads up to this many MiB are checked within the completion request (the API function's
   * 15 s); larger ones are handed to the verification function (900 s, 1,769 MB), and completion
   * answers 202 until it is done (issue #24). Streaming and hashing run at about 100 MB/s in the
   * API function's 512 MB on AWS, so the default keeps the check near a second.
   */
  UPLOAD_VERIFY_INLINE_MB: z.preprocess(blankAsUnset, z.coerce.number().min(0).max(2_048).default(64)),
  /** The verification function's name (serverless.yml sets it); unset: every upload is checked inline. */
  UPLOAD_VERIFIER_FUNCTION: z.preprocess(blankAsUnset, z.string().optional()),
  /** A Lambda invoke endpoint (serverless-offline's, under npm start and the tests); unset in AWS. */
  LAMBDA_ENDPOINT: z.preprocess(blankAsUnset, z.url().optional()),
  /** An S3-compatible server (local runs, tests); unset in AWS, where the SDK finds S3 itself. */
  S3_ENDPOINT: z.preprocess(blankAsUnset, z.url().optional()),
  /**
   * The bucket that holds model weights (serverless.yml sets it from the WeightsBucket resource).
   * Checked when the store is used, not here: serverless-offline run without S3_BUCKET passes the
   * unresolved `!Ref`, and that must not fail functions that never touch the store.
   */
  S3_BUCKET: z.preprocess(blankAsUnset, z.string().optional()),
  /** The bucket's region; unset: AWS_REGION (set by Lambda), else us-east-1. */
  S3_REGION: z.preprocess(blankAsUnset, z.string().optional()),
  AWS_REGION: z.preprocess(blankAsUnset, z.string().optional()),
  /** Path-style URLs (`host/bucket/key`); unset: true when S3_ENDPOINT is set (local servers need it). */
  S3_FORCE_PATH_STYLE: z.preprocess(blankAsUnset, z.enum(['true', 'false']).optional()),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

// Logs, metrics and traces (lib/observability) are configured by Powertools' own variables, which
// Powertools reads itself: POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL,
// POWERTOOLS_LOGGER_SAMPLE_RATE, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_METRICS_DISABLED and
// POWERTOOLS_TRACE_ENABLED (README: Configuration). The one decision taken here is whether to load
// the tracer at all, made when a function starts, so it never throws.

/** Whether X-Ray tracing is wanted: in Lambda (AWS_EXECUTION_ENV), unless POWERTOOLS_TRACE_ENABLED is false. */
export function tracingRequested(environment: NodeJS.ProcessEnv = process.env): boolean {
  const enabled = (environment.POWERTOOLS_TRACE_ENABLED ?? 'true').trim().toLowerCase();
  return environment.AWS_EXECUTION_ENV !== undefined && !['false', '0', 'n', 'no', 'off'].includes(enabled);
}

let cached: Config | undefined;

/** The service configuration, parsed from the environment once and frozen. */
export function getConfig(): Config {
  if (cached === undefined) {
    const parsed = ConfigSchema.safeParse(process.env);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
      throw new ConfigurationError(`Invalid configuration: ${problems.join('; ')}`);
    }
    cached = Object.freeze(parsed.data);
  }
  return cached;
}

/** Where the connection string comes from: the local override, else the SSM parameter. */
export type MongoUriSource =
  | { readonly kind: 'environment'; readonly uri: string }
  | { readonly kind: 'ssm-parameter'; readonly name: string };

/**
 * Where to take the connection string from: MONGODB_URI when set (no AWS call is made), else the
 * SSM parameter MONGODB_URI_SSM_PARAMETER names; a configuration error when neither is set.
 */
export function mongoUriSource(config: Config = getConfig()): MongoUriSource {
  if (config.MONGODB_URI !== undefined) return { kind: 'environment', uri: config.MONGODB_URI };
  if (config.MONGODB_URI_SSM_PARAMETER !== undefined) return { kind: 'ssm-parameter', name: config.MONGODB_URI_SSM_PARAMETER };
  throw new ConfigurationError(
    'The database is not configured: set MONGODB_URI (local runs, e.g. mongodb://127.0.0.1:27017) or ' +
      'MONGODB_URI_SSM_PARAMETER (deployed: the SSM SecureString parameter that holds the connection string)',
  );
}

/** Where the object store is, from S3_*; a configuration error when no bucket is set. */
export function requireObjectStoreSettings(config: Config = getConfig()) {
  if (config.S3_BUCKET === undefined) {
    throw new ConfigurationError('S3_BUCKET is not set: name the bucket that holds model weights');
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(config.S3_BUCKET)) {
    throw new ConfigurationError(
      `S3_BUCKET "${config.S3_BUCKET.slice(0, 80)}" is not a bucket name (3-63 lowercase letters, digits, "." or "-")`,
    );
  }
  return {
    bucket: config.S3_BUCKET,
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION ?? config.AWS_REGION ?? 'us-east-1',
    forcePathStyle:
      config.S3_FORCE_PATH_STYLE === undefined ? config.S3_ENDPOINT !== undefined : config.S3_FORCE_PATH_STYLE === 'true',
  } as const;
}
