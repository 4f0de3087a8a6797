import type { Tracer } from '@aws-lambda-powertools/tracer';
import { tracingRequested } from '../config';
import { SERVICE_NAME } from './logger';

/**
 * The X-Ray tracer, or undefined where there is nothing to trace to: it is on in Lambda unless
 * POWERTOOLS_TRACE_ENABLED=false (serverless.yml: the `tracing` deploy parameter), and off
 * outside Lambda (npm start, the tests), where no X-Ray daemon listens. Loaded only when on:
 * the X-Ray SDK is the largest part of a function's start-up that tracing adds.
 */
export const tracer: Tracer | undefined = tracingRequested()
  ? // A require, not an import: the bundle evaluates the tracer only on this branch.
    new (require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer')).Tracer({ serviceName: SERVICE_NAME })
  : undefined;

/**
 * Runs `work` in a subsegment named `## <name>` (a database operation, a Step Functions call)
 * when tracing is on; otherwise just runs it.
 */
export async function traced<T>(name: string, work: () => Promise<T>): Promise<T> {
  const parent = tracer?.getSegment();
  if (tracer === undefined || parent === undefined) return work();
  const subsegment = parent.addNewSubsegment(`## ${name}`);
  tracer.setSegment(subsegment);
  try {
    return await work();
  } catch (error) {
    subsegment.addError(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(parent);
  }
}

/** Records an AWS SDK v3 client's calls (S3, Step Functions, Lambda) as subsegments when tracing is on. */
export function traceAwsClient<Client>(client: Client): Client {
  return tracer === undefined ? client : tracer.captureAWSv3Client(client);
}
