import { traceAwsClient } from '../observability';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DependencyError } from '../errors';
import { ObjectNotFoundError, translateS3Error } from './errors';
import type { ByteRange, ListedObject, ObjectBody, ObjectInfo, ObjectStore, UploadedPart } from './object-store';

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** An S3-compatible server (local); unset for AWS S3 itself. */
  readonly endpoint?: string;
  readonly region: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; what local servers need. */
  readonly forcePathStyle?: boolean;
  /** Fixed credentials (local servers); unset: the SDK's default chain (the Lambda's role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Concurrent connections to the store (default 32). */
  readonly maxSockets?: number;
  /** Attempts per call, the SDK's retries with backoff included (default 3). */
  readonly maxAttempts?: number;
}

/** Part size of multipart uploads of streams of unknown length (S3's minimum is 5 MiB). */
const MULTIPART_PART_SIZE = 8 * 1024 * 1024;
/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;

/** An S3 client tuned for streaming weights: kept-alive connections, several at once. */
export function createS3Client(options: S3ObjectStoreOptions): S3Client {
  const maxSockets = options.maxSockets ?? 32;
  // With tracing on, each S3 call is an X-Ray subsegment.
  return traceAwsClient(new S3Client({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
    maxAttempts: options.maxAttempts ?? 3,
    // The SDK's default (a CRC32 of every body, computed in JavaScript, and for streams a trailer
    // that older S3-compatible servers do not parse) costs CPU on every 8 MB object; TLS already
    // protects the bytes in transit. Checksums are sent where S3 requires them (DeleteObjects).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 3_000,
    },
  }));
}

/**
 * An {@link ObjectStore} on one S3 bucket (or an S3-compatible server's, with `endpoint`).
 *
 * @example
 * ```ts
 * const store = createS3ObjectStore({ bucket: 'weights', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1' });
 * ```
 */
export function createS3ObjectStore(options: S3ObjectStoreOptions): ObjectStore {
  const client = createS3Client(options);
  return new S3ObjectStore(client, options.bucket);
}

/** Throws the project's error for an SDK failure (see translateS3Error). */
function rethrow(error: unknown, bucket: string, key?: string): never {
  throw translateS3Error(error, bucket, key);
}

function checkRange(range: ByteRange): string {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`Invalid byte range ${start}-${end}: need integers with 0 <= start <= end`);
  }
  return `bytes=${start}-${end}`;
}

function asReadable(body: Readable | NodeJS.ReadableStream): Readable {
  return body instanceof Readable ? body : new Readable().wrap(body);
}

class S3ObjectStore implements ObjectStore {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async put(
    key: string,
    body: ObjectBody,
    options: { contentLength?: number; contentType?: string } = {},
  ): Promise<ObjectInfo> {
    const contentType = options.contentType ?? 'application/octet-stream';
    try {
      if (body instanceof Uint8Array) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: body.byteLength,
            ContentType: contentType,
          }),
        );
        return { size: body.byteLength };
      }
      const stream = asReadable(body);
      if (options.contentLength !== undefined) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: stream,
            ContentLength: options.contentLength,
            ContentType: contentType,
          }),
        );
        return { size: options.contentLength };
      }
      // Unknown length: count the bytes on their way into lib-storage's multipart upload.
      let size = 0;
      const counted = new PassThrough({ highWaterMark: 1024 * 1024 });
      counted.on('data', (chunk: Buffer) => (size += chunk.length));
      const piping = pipeline(stream, counted);
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: counted, ContentType: contentType },
        partSize: MULTIPART_PART_SIZE,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await Promise.all([upload.done(), piping]);
      return { size };
    } catch (error) {
      rethrow(error, this.bucket, key);
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<Readable> {
    const Range = range === undefined ? undefined : checkRange(range);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range }));
      if (response.Body === undefined) throw new DependencyError(`The object store sent no body for "${key}".`);
      return response.Body as Readable;
    } catch (error) {
      rethrow(error, this.bucket, key);
    }
  }

  async readInto(key: string, target: Uint8Array, range?: ByteRange, observe?: (chunk: Uint8Array) => void): Promise<number> {
    if (range !== undefined) {
      checkRange(range);
      if (range.end - range.start + 1 > target.byteLength) {
        throw new RangeError(`The range of ${range.end - range.start + 1} bytes does not fit a ${target.byteLength}-byte buffer`);
      }
    }
    const stream = await this.getStream(key, range);
    let offset = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Uint8Array>) {
        if (offset + chunk.byteLength > target.byteLength) {
          throw new RangeError(`The object "${key}" is longer than the ${target.byteLength}-byte buffer`);
        }
        target.set(chunk, offset);
        offset += chunk.byteLength;
        observe?.(chunk);
      }
    } catch (error) {
      stream.destroy();
      if (error instanceof RangeError) throw error;
      rethrow(error, this.bucket, key);
    }
    return offset;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: response.ContentLength ?? 0 };
    } catch (error) {
      const translated = translateS3Error(error, this.bucket, key);
      if (translated instanceof ObjectNotFoundError) return null;
      throw translated;
    }
  }

  async copy(sourceKey: string, targetKey: string): Promise<void> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: targetKey,
          CopySource: `${this.bucket}/${sourceKey.split('/').map(encodeURIComponent).join('/')}`,
        }),
      );
    } catch (error) {
      throw translateS3Error(error, this.bucket, sourceKey);
    }
  }

  async presignPut(
    key: string,
    options: { expiresInSeconds: number; contentLength?: number; contentType?: string },
  ): Promise<string> {
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ContentLength: options.contentLength,
      ContentType: options.contentType,
    });
    return getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds });
  }

  async presignGet(key: string, options: { expiresInSeconds: number }): Promise<string> {
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: key });
    return getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds });
  }

  async list(prefix: string, continuation?: string): Promise<{ objects: ListedObject[]; continuation: string | null }> {
    let response;
    try {
      response = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(continuation === undefined ? {} : { ContinuationToken: continuation }) }),
      );
    } catch (error) {
      rethrow(error, this.bucket);
    }
    const objects = (response.Contents ?? []).flatMap((object) =>
      object.Key === undefined ? [] : [{ key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) }],
    );
    return { objects, continuation: response.IsTruncated === true ? (response.NextContinuationToken ?? null) : null };
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let first = 0; first < keys.length; first += DELETE_BATCH) {
      const batch = keys.slice(first, first + DELETE_BATCH);
      let response;
      try {
        response = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
      } catch (error) {
        rethrow(error, this.bucket);
      }
      const failed = (response.Errors ?? []).filter((entry) => entry.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const [example] = failed;
        throw new DependencyError(
          `The object store did not delete ${failed.length} of ${batch.length} objects (e.g. "${example?.Key}": ${example?.Code} ${example?.Message})`,
        );
      }
    }
  }

  async createMultipart(key: string, options: { contentType?: string } = {}): Promise<string> {
    try {
      const response = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ContentType: options.contentType ?? 'application/octet-stream',
        }),
      );
      if (response.UploadId === undefined) throw new DependencyError('The object store returned no upload id.');
      return response.UploadId;
    } catch (error) {
      rethrow(error, this.bucket, key);
    }
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: ObjectBody,
    options: { contentLength?: number } = {},
  ): Promise<UploadedPart> {
    const contentLength = body instanceof Uint8Array ? body.byteLength : options.contentLength;
    if (contentLength === undefined) throw new RangeError('uploadPart needs the contentLength of a stream body');
    try {
      const response = await this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body instanceof Uint8Array ? body : asReadable(body),
          ContentLength: contentLength,
        }),
      );
      if (response.ETag === undefined) throw new DependencyError('The object store returned no ETag for a part.');
      return { partNumber, etag: response.ETag };
    } catch (error) {
      rethrow(error, this.bucket, key);
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<void> {
    const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: ordered.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
        }),
      );
    } catch (error) {
      rethrow(error, this.bucket, key);
    }
  }

  async listParts(key: string, uploadId: string): Promise<(UploadedPart & { size: number })[]> {
    const parts: (UploadedPart & { size: number })[] = [];
    let marker: string | undefined;
    for (;;) {
      let response;
      try {
        response = await this.client.send(
          new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, ...(marker === undefined ? {} : { PartNumberMarker: marker }) }),
        );
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchUpload') throw new ObjectNotFoundError(key, { cause: error });
        rethrow(error, this.bucket, key);
      }
      for (const part of response.Parts ?? []) {
        if (part.PartNumber !== undefined && part.ETag !== undefined) parts.push({ partNumber: part.PartNumber, etag: part.ETag, size: part.Size ?? 0 });
      }
      if (response.IsTruncated !== true || response.NextPartNumberMarker === undefined) break;
      marker = String(response.NextPartNumberMarker);
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (error) {
      // Already completed, aborted or never there: nothing is left to free.
      if ((error as { name?: string }).name === 'NoSuchUpload') return;
      rethrow(error, this.bucket, key);
    }
  }
}
