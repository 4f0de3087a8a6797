export { FmaClient, UPLOAD_VERIFICATION_WAIT_MS } from './fma-client.js';
export { FmaApiError } from './errors.js';
export type {
  DownloadedWeights,
  FmaClientOptions,
  ModelAggregate,
  ModelArtifact,
  SentUpdate,
  Weights,
  WeightsDownload,
} from './types.js';
