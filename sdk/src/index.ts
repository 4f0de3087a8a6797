export { FmaClient, UPLOAD_VERIFICATION_WAIT_MS } from './fma-client.js';
export { FmaApiError } from './errors.js';
export {
  decodeValues,
  encodedByteSize,
  encodeValues,
  ErrorFeedback,
  INT8_BLOCK_BYTES,
  INT8_BLOCK_VALUES,
  WEIGHTS_DTYPES,
  type EncodeOptions,
  type WeightsDtype,
} from './encodings.js';
export type {
  DownloadedWeights,
  FmaClientOptions,
  ModelAggregate,
  ModelArtifact,
  SentUpdate,
  Weights,
  WeightsDownload,
} from './types.js';
