/**
 * The object store for model weights: one small interface ({@link ObjectStore}), its S3
 * implementation, and the container's shared instance.
 */
import { requireObjectStoreSettings } from '../config';
import type { ObjectStore } from './object-store';
import { createS3ObjectStore } from './s3-object-store';

export type {
  ByteRange,
  ObjectBody,
  ListedObject,
  ObjectInfo,
  ObjectStore,
  PresignGetOptions,
  PresignPutOptions,
  PutOptions,
  UploadedPart,
} from './object-store';
export { ObjectNotFoundError, translateS3Error } from './errors';
export { createS3Client, createS3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store';

let shared: ObjectStore | undefined;

/**
 * The container's object store (one S3 client per Lambda container, like the MongoDB client),
 * configured from S3_BUCKET, S3_ENDPOINT, S3_REGION and S3_FORCE_PATH_STYLE (lib/config.ts).
 * Credentials come from the SDK's default chain: the function's role in AWS, AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY locally.
 */
export function getObjectStore(): ObjectStore {
  if (shared === undefined) {
    const settings = requireObjectStoreSettings();
    shared = createS3ObjectStore({
      bucket: settings.bucket,
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    });
  }
  return shared;
}
