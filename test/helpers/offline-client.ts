import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { RunningOffline } from '../../scripts/offline';

export interface HttpReply {
  status: number;
  body: unknown;
}

export interface InvokeReply {
  /** Set when the function threw: the error's name. */
  errorType?: string;
  errorMessage?: string;
  result?: unknown;
}

export const SERVICE = 'fma-serverless';
export const STAGE = 'dev';

/**
 * The error's name as Lambda reports it. AWS's Node.js runtime sends `error.name` as
 * `errorType`; serverless-offline always sends "Error" but keeps the stack, whose first line is
 * `<name>: <message>`, so the name is read from there.
 */
function errorName(error: { errorType?: string; trace?: string[] }): string | undefined {
  if (error.errorType !== 'Error' || error.trace === undefined) return error.errorType;
  return /^(\w+):/.exec(error.trace[0] ?? '')?.[1] ?? error.errorType;
}

/** lower_snake_case → lowerCamelCase (the function keys of serverless.yml). */
export function functionKey(operation: string): string {
  return operation.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** How a run ended, as `GET /aggregation/runs/{name}` tells it. */
export interface RunDescription {
  name: string;
  model: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  final_state: string | null;
  error: string | null;
}

/**
 * Polls `GET /aggregation/runs/{name}` until the run has ended (runs go on in the background).
 * A poll that timed out is asked again, as any client of API Gateway retries a 504:
 * serverless-offline answers its own Lambda timeout with 200 and a body naming `errorType`, which
 * happens when many requests meet cold workers on a 2-core machine. Any other answer that is not a
 * run's description fails at once.
 */
export async function waitForRun(httpUrl: string, name: string, timeoutMs = 120_000): Promise<RunDescription> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${httpUrl}/aggregation/runs/${encodeURIComponent(name)}`);
    const body = (await response.json()) as RunDescription | { errorType: string; errorMessage?: string };
    const timedOut = response.status === 504 || (response.status === 200 && 'errorType' in body && /timeout/i.test(`${body.errorType} ${body.errorMessage ?? ''}`));
    if (!timedOut) {
      if (response.status !== 200 || !('status' in body)) throw new Error(`GET /aggregation/runs/${name} answered ${response.status}: ${JSON.stringify(body)}`);
      if (body.status !== 'RUNNING') return body;
    }
    if (Date.now() > deadline) throw new Error(`run ${name} is still RUNNING after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts a run of the model with `POST /aggregation/run` and waits for it to end. */
export async function runAggregation(httpUrl: string, model: number): Promise<RunDescription> {
  const response = await fetch(`${httpUrl}/aggregation/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model }),
  });
  const body = (await response.json()) as { run: string; started: boolean };
  if (response.status !== 200 || !body.started) throw new Error(`POST /aggregation/run answered ${response.status}: ${JSON.stringify(body)}`);
  return waitForRun(httpUrl, body.run);
}

/** Calls serverless-offline the two ways a deployed stack is called: HTTP, and Lambda Invoke. */
export function offlineClient(offline: RunningOffline) {
  const lambda = new LambdaClient({
    endpoint: offline.lambdaEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAOFFLINE', secretAccessKey: 'offline' },
  });
  return {
    lambda,
    async post(path: string, body: unknown, raw = false): Promise<HttpReply> {
      const response = await fetch(`${offline.httpUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw ? (body as string) : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
    },
    async invoke(functionName: string, payload: unknown): Promise<InvokeReply> {
      const reply = await lambda.send(
        new InvokeCommand({
          FunctionName: `${SERVICE}-${STAGE}-${functionName}`,
          Payload: Buffer.from(JSON.stringify(payload)),
        }),
      );
      const text = reply.Payload === undefined ? '' : Buffer.from(reply.Payload).toString('utf8');
      const parsed: unknown = text === '' ? undefined : JSON.parse(text);
      if (reply.FunctionError !== undefined) {
        const error = parsed as { errorType?: string; errorMessage?: string; trace?: string[] };
        return { errorType: errorName(error), errorMessage: error.errorMessage };
      }
      return { result: parsed };
    },
  };
}
