import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DeleteBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, createS3ObjectStore, type ObjectStore, type S3ObjectStoreOptions } from '../../lib/store';
import { ensureBucket } from '../../scripts/object-store/resolve-object-store';

/** The store options that the global setup resolved, for a given bucket. */
export function testObjectStoreOptions(bucket: string): S3ObjectStoreOptions {
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint === undefined) throw new Error('S3_ENDPOINT is not set: run the tests with `npm test`');
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = process.env;
  return {
    bucket,
    endpoint,
    region: process.env.S3_REGION ?? 'us-east-1',
    forcePathStyle: true,
    ...(accessKeyId !== undefined && secretAccessKey !== undefined ? { credentials: { accessKeyId, secretAccessKey } } : {}),
  };
}

/** A bucket name unique to this test file and run (3-63 lowercase letters, digits and "-"). */
export function uniqueBucketName(label = path.basename(expect.getState().testPath ?? 'test', '.test.ts')): string {
  const stem = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  return `t-${stem}-${randomBytes(4).toString('hex')}`;
}

export interface TestObjectStore {
  /** The bucket of this test file. */
  readonly bucket: string;
  /** An ObjectStore on that bucket. */
  readonly store: ObjectStore;
  /** A raw S3 client on the test server, for what the interface does not offer. */
  readonly client: S3Client;
  /** The options the store was made with (e.g. to make another store on the same bucket). */
  readonly options: S3ObjectStoreOptions;
}

/**
 * Gives the test file a bucket of its own on the test object store (created in beforeAll, emptied
 * and deleted in afterAll), so that test files can run in parallel. Call at the top of a describe
 * block; use `.store` inside tests.
 */
export function useTestObjectStore(): TestObjectStore {
  const bucket = uniqueBucketName();
  const options = testObjectStoreOptions(bucket);
  const client = createS3Client(options);
  const store = createS3ObjectStore(options);
  beforeAll(async () => {
    await ensureBucket(client, bucket);
  });
  afterAll(async () => {
    for (;;) {
      const listing = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
      const keys = (listing.Contents ?? []).flatMap((entry) => (entry.Key === undefined ? [] : [entry.Key]));
      if (keys.length === 0) break;
      await store.delete(keys);
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  });
  return { bucket, store, client, options };
}
