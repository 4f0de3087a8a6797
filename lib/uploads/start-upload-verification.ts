import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { getConfig } from '../config';
import { ConfigurationError } from '../errors';
import { traceAwsClient } from '../observability';

let lambda: LambdaClient | undefined;

/** The payload the verification function takes (functions/uploads/verify-model-update-upload.ts). */
export interface UploadVerificationRequest {
  readonly upload: string;
}

/**
 * Hands a claimed upload to the verification function and answers at once (an asynchronous
 * `Invoke`): the function checks the bytes with its own timeout and memory and creates the
 * update, and the client's next completion request finds it. Under `npm start` the same call goes
 * to serverless-offline's Lambda endpoint (LAMBDA_ENDPOINT), which runs the function the same way.
 */
export async function startUploadVerification(upload: string): Promise<void> {
  const config = getConfig();
  if (config.UPLOAD_VERIFIER_FUNCTION === undefined) {
    throw new ConfigurationError('UPLOAD_VERIFIER_FUNCTION is not set: large uploads cannot be verified (serverless.yml sets it)');
  }
  lambda ??= traceAwsClient(
    new LambdaClient({
      region: config.AWS_REGION ?? 'us-east-1',
      ...(config.LAMBDA_ENDPOINT === undefined ? {} : { endpoint: config.LAMBDA_ENDPOINT }),
    }),
  );
  const request: UploadVerificationRequest = { upload };
  await lambda.send(
    new InvokeCommand({ FunctionName: config.UPLOAD_VERIFIER_FUNCTION, InvocationType: 'Event', Payload: JSON.stringify(request) }),
  );
}
