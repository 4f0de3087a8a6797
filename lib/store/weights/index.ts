/**
 * Weight bytes in the object store (issue #30): whole weights, streamed, ranged and block reads,
 * server optimizer state, and the objects of sharded runs (manifest, partial sums, multipart
 * parts). Documents hold only a reference (`WeightsRef`, `OptimizerStateRef`); these functions
 * move the bytes it names, given the store (`getObjectStore()` in a Lambda, a test's own in
 * tests). They sit in the storage layer beside the store they use, below the connector and the
 * aggregation that call them; nothing here reads the database.
 */
export {
  DEFAULT_READ_CONCURRENCY,
  deleteWeights,
  newWeightsKey,
  presignWeightsDownload,
  PRESIGNED_URL_SECONDS,
  putWeights,
  readInOrder,
  readWeights,
  streamWeights,
  type WeightsKind,
} from './weight-bytes';
export { BLOCK_READ_CONCURRENCY, putOptimizerState, readOptimizerState, streamWeightBlocks } from './weight-blocks';
export * from './shard-manifest';
export * from './shard-objects';
export { encodedCopy } from './encoded-copy';
