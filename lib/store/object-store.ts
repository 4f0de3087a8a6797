import type { Readable } from 'node:stream';

/** A byte range of an object: inclusive offsets, as in an HTTP `Range: bytes=start-end` header. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** What the store knows about a stored object. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

export interface ObjectInfo {
  /** Size in bytes. */
  readonly size: number;
}

/** A body to store: bytes in memory, or a stream (of known or unknown length). */
export type ObjectBody = Uint8Array | Readable | NodeJS.ReadableStream;

export interface PutOptions {
  /** Length of a stream body; without it a stream goes up as a multipart upload. */
  readonly contentLength?: number;
  readonly contentType?: string;
}

export interface PresignPutOptions {
  readonly expiresInSeconds: number;
  /** Signed into the URL: the upload must then have exactly this length. */
  readonly contentLength?: number;
  /** Signed into the URL: the upload must then send this `content-type`. */
  readonly contentType?: string;
}

export interface PresignGetOptions {
  readonly expiresInSeconds: number;
}

/** One uploaded part of a multipart upload, as `completeMultipart` needs it. */
export interface UploadedPart {
  /** 1 to 10,000; parts are joined in this order. */
  readonly partNumber: number;
  readonly etag: string;
}

/**
 * The object store that holds model weights (an S3 bucket; locally an S3-compatible server).
 * Keys are the caller's; the store never invents them.
 *
 * Failures: a missing object is {@link ObjectNotFoundError} (`getStream`, `readInto`); the store
 * being away or answering 5xx is `DependencyError` (retryable) with the SDK's error as `cause`; a
 * range outside the object is `ValidationError`.
 *
 * @example
 * ```ts
 * const store = getObjectStore();
 * await store.put(`updates/${id}`, new Uint8Array(weights.buffer));
 * const buffer = new Float64Array(1_000_000);
 * const bytes = await store.readInto(`updates/${id}`, new Uint8Array(buffer.buffer));
 * ```
 */
export interface ObjectStore {
  /** The bucket every key lives in. */
  readonly bucket: string;

  /**
   * Writes an object (replacing any under that key). Bytes and streams of known length go up in one
   * request; streams of unknown length as a multipart upload (lib-storage's `Upload`, 8 MiB parts,
   * aborted on failure). Resolves to the stored size.
   */
  put(key: string, body: ObjectBody, options?: PutOptions): Promise<ObjectInfo>;

  /** The object, or a byte range of it, as a Node stream. Missing object: `ObjectNotFoundError`. */
  getStream(key: string, range?: ByteRange): Promise<Readable>;

  /**
   * Reads the object (or range) into `target`, a buffer the caller reuses, copying each chunk as it
   * arrives rather than concatenating them. Resolves to the number of bytes read (from
   * `target[0]`). Throws `RangeError` when the object or range is longer than `target`.
   */
  readInto(key: string, target: Uint8Array, range?: ByteRange, observe?: (chunk: Uint8Array) => void): Promise<number>;

  /** The object's size, or `null` when there is no such object. */
  head(key: string): Promise<ObjectInfo | null>;

  /**
   * Copies an object inside the bucket, on the server (S3's CopyObject: no bytes pass through the
   * caller; up to 5 GB). A missing source is `ObjectNotFoundError`.
   */
  copy(sourceKey: string, targetKey: string): Promise<void>;

  /** A URL that lets its holder PUT this one object (e.g. a client uploading its weights) until it expires. */
  presignPut(key: string, options: PresignPutOptions): Promise<string>;

  /** A URL that lets its holder GET this one object until it expires. */
  presignGet(key: string, options: PresignGetOptions): Promise<string>;

  /** Deletes the objects (in batches of 1,000 per request); keys with no object are fine. */
  delete(keys: readonly string[]): Promise<void>;
  /** One page (at most 1,000) of the objects under `prefix`, in key order; `continuation` asks for the next. */
  list(prefix: string, continuation?: string): Promise<{ objects: ListedObject[]; continuation: string | null }>;

  /**
   * Starts a multipart upload, for writing one object in parts from several places. Every part but
   * the last must be at least 5 MiB. Resolves to the upload id.
   */
  createMultipart(key: string, options?: { readonly contentType?: string }): Promise<string>;

  /** Uploads one part (numbered 1 to 10,000) of a multipart upload. */
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: ObjectBody,
    options?: { readonly contentLength?: number },
  ): Promise<UploadedPart>;

  /** Joins the parts (in `partNumber` order) into the object. */
  completeMultipart(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<void>;

  /**
   * The parts uploaded so far, in `partNumber` order (every page of S3's ListParts). An upload
   * that was completed or aborted is `ObjectNotFoundError`.
   */
  listParts(key: string, uploadId: string): Promise<(UploadedPart & { readonly size: number })[]>;

  /** Abandons a multipart upload and frees its parts; an unknown upload id is fine. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
}
