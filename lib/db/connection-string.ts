import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { MONGODB_URI_PATTERN, mongoUriSource, type Config } from '../config';
import { ConfigurationError, DependencyError } from '../errors';

/**
 * The SSM provider of Powertools' Parameters utility, one per container, made on first use: a
 * container on the local override (MONGODB_URI) never loads the SSM client.
 */
let provider: Promise<SSMProvider> | undefined;

function ssmProvider(): Promise<SSMProvider> {
  provider ??= import('@aws-lambda-powertools/parameters/ssm').then(({ SSMProvider }) => new SSMProvider());
  return provider;
}

/**
 * Seconds Powertools keeps the value. lib/db/client.ts keeps the connected client for the
 * container's life, so the parameter is read again only after a connect failed (the password may
 * have been rotated); this bounds those reads to one a minute while the database is away.
 */
const CACHE_SECONDS = 60;

/**
 * The MongoDB connection string: MONGODB_URI when set (no AWS call), else the SecureString that
 * MONGODB_URI_SSM_PARAMETER names, decrypted. Errors never carry the value:
 *
 * - neither is set, the parameter does not exist, the function may not read it, or it holds no
 *   `mongodb://` URI: {@link ConfigurationError} (500; the deployment must change);
 * - Parameter Store is away or throttles: {@link DependencyError} (503, retryable).
 *
 * @example
 * const client = new MongoClient(await resolveMongoUri(getConfig()), options);
 */
export async function resolveMongoUri(config: Config): Promise<string> {
  const source = mongoUriSource(config);
  if (source.kind === 'environment') return source.uri;
  let value: unknown;
  try {
    value = await (await ssmProvider()).get(source.name, { decrypt: true, maxAge: CACHE_SECONDS, throwOnMissing: true });
  } catch (error) {
    throw parameterError(source.name, error);
  }
  if (typeof value !== 'string' || !MONGODB_URI_PATTERN.test(value)) {
    throw new ConfigurationError(
      `The SSM parameter ${source.name} holds no MongoDB connection string (expected mongodb:// or mongodb+srv://)`,
    );
  }
  return value;
}

/** SDK errors that a retry will not cure: the deployment is wrong. */
const CONFIGURATION_FAILURES = new Set([
  'ParameterNotFoundError', // Powertools' name for the SDK's ParameterNotFound (throwOnMissing)
  'ParameterNotFound',
  'ParameterVersionNotFound',
  'AccessDeniedException',
  'InvalidKeyId',
  'KMSAccessDeniedException',
  'ValidationException',
]);

/**
 * A failed read as one of our errors. Only names go into the message: the SDK's own message may
 * quote the role's ARN, and health answers show database errors' messages.
 */
function parameterError(name: string, error: unknown): Error {
  const errorName = (error as Error | undefined)?.name;
  const causeName = ((error as { cause?: Error } | undefined)?.cause as Error | undefined)?.name;
  const reason = [errorName, causeName].find((n) => n !== undefined && CONFIGURATION_FAILURES.has(n));
  if (reason !== undefined) {
    return new ConfigurationError(`The SSM parameter ${name} could not be read (${reason})`, { cause: error });
  }
  return new DependencyError(`The SSM parameter ${name} could not be read (${causeName ?? errorName ?? 'unknown error'})`, {
    cause: error,
  });
}
