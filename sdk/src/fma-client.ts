import { FmaApiError } from './errors.js';
import type { DownloadedWeights, FmaClientOptions, ModelAggregate, ModelArtifact, SecureRound, SentUpdate, Weights, WeightsDownload } from './types.js';
import { fromLittleEndian, littleEndianBytes, sha256Hex } from './weight-bytes.js';
import { encodeValues, type ErrorFeedback, type WeightsDtype } from './encodings.js';
import { SecureRoundParticipant, type SecureWaitOptions } from './secure-aggregation.js';

/** How long `sendUpdateBinary` waits for the service to check a large upload (202 answers). */
export const UPLOAD_VERIFICATION_WAIT_MS = 20 * 60_000;

/**
 * A TypeScript client for federated clients, with the calls of FMA's Python client: register,
 * send an update, poll for the newest aggregate or model, fetch the current artifact, send
 * validation results. It uses only `fetch` and Web Crypto, so it runs in Node.js 20+ and browsers.
 *
 * @example
 * const client = new FmaClient({ baseUrl: 'https://api.example.com', federatedModelId: 1 });
 * await client.register();
 * const latest = await client.checkForLatestModel();
 * await client.sendUpdate(train(latest?.values), latest?.aggregate ?? null);
 */
export class FmaClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private uuid: string | undefined;

  constructor(private readonly options: FmaClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.uuid = options.clientUuid;
  }

  /** This client's UUID (after `register()`, or as given). */
  get clientUuid(): string | undefined {
    return this.uuid;
  }

  /** Joins the model: as a new client, or as the one whose UUID it was given. Returns the UUID. */
  async register(): Promise<string> {
    const body = this.options.joinSecret === undefined ? {} : { join_secret: this.options.joinSecret };
    const answer = await this.request<{ uuid: string }>('POST', `models/${this.options.federatedModelId}/register_client/`, body);
    this.uuid = answer.uuid;
    return answer.uuid;
  }

  /** Sends trained weights, naming the aggregate they were trained from. */
  sendUpdate(data: Weights, baseAggregate: number | null = null, numExamples?: number): Promise<SentUpdate> {
    return this.request('POST', 'model_updates/', {
      federated_model: this.options.federatedModelId,
      data,
      base_aggregate: baseAggregate,
      ...(numExamples === undefined ? {} : { num_examples: numExamples }),
    });
  }

  /** The newest aggregate with its weights, or null when there is none newer than `updateAfter`. */
  async checkForNewModelAggregate(updateAfter?: number): Promise<ModelAggregate | null> {
    const latest = await this.request<ModelAggregate | Record<string, never>>(
      'GET',
      `models/${this.options.federatedModelId}/get_latest_aggregate/`,
    );
    if (!('id' in latest)) return null;
    return updateAfter !== undefined && latest.id <= updateAfter ? null : (latest as ModelAggregate);
  }

  /** The model's published artifact with its values, or null. */
  async getCurrentArtifact(): Promise<ModelArtifact | null> {
    const artifact = await this.request<ModelArtifact | Record<string, never>>(
      'GET',
      `models/${this.options.federatedModelId}/get_current_artifact/`,
    );
    return 'id' in artifact ? (artifact as ModelArtifact) : null;
  }

  /**
   * The weights to train from: the newest aggregate's, else the current artifact's. Null when
   * there are none, or when the newest aggregate is not newer than `updateAfter`.
   */
  async checkForLatestModel(updateAfter?: number): Promise<{ values: Weights; aggregate: number | null } | null> {
    const latest = await this.request<{ values?: Weights; aggregate?: number | null }>(
      'GET',
      `models/${this.options.federatedModelId}/get_latest_model/`,
    );
    if (latest.values === undefined) return null;
    const aggregate = latest.aggregate ?? null;
    if (updateAfter !== undefined && aggregate !== null && aggregate <= updateAfter) return null;
    return { values: latest.values, aggregate };
  }

  /**
   * Sends this client's validation results for an aggregate. Like FMA's Python client it names its
   * model and itself too, which the service checks against the aggregate and the caller (400/403).
   */
  sendValResults(results: unknown, aggregateId: number): Promise<{ id: number; aggregate: number }> {
    return this.request('POST', 'client_aggregate_scores/', {
      validation_results: results,
      federated_model: this.options.federatedModelId,
      aggregate: aggregateId,
      client: this.uuid,
    });
  }

  /**
   * Sends an update as bytes, for models too large for JSON (Lambda takes at most 6 MB per
   * request): declares it (dtype, layer shapes, SHA-256), PUTs the bytes straight to the object
   * store through the presigned URL it is given, then completes it. Without `dtype` the values
   * are sent as they are, little-endian, as float32 or float64 by their array type; with it, in
   * that encoding (`float16`, `bfloat16`, or `int8`: blocks of 64 values with a float32 scale
   * each, see the README), which the service decodes as it aggregates.
   *
   * @param shapes each layer's shape; omitted: one flat vector (`[[values.length]]`)
   * @param dtype the encoding to send (default: the array's own type)
   * @param stochastic int8: stochastic rounding instead of round to nearest (the bytes have the same format)
   * @param errorFeedback encodes values + the residual it keeps, in its dtype, and keeps the new residual
   */
  async sendUpdateBinary(
    values: Float32Array | Float64Array,
    options: {
      baseAggregate?: number | null;
      numExamples?: number;
      shapes?: number[][];
      dtype?: WeightsDtype;
      stochastic?: boolean;
      errorFeedback?: ErrorFeedback;
    } = {},
  ): Promise<SentUpdate> {
    const native = values instanceof Float32Array ? 'float32' : 'float64';
    const dtype: WeightsDtype = options.errorFeedback?.dtype ?? options.dtype ?? native;
    const bytes =
      options.errorFeedback !== undefined
        ? options.errorFeedback.encode(values)
        : dtype === native
          ? littleEndianBytes(values)
          : encodeValues(values, dtype, { stochastic: options.stochastic === true });
    const upload = await this.request<{ id: string; url: string; headers: Record<string, string> }>('POST', 'model_updates/uploads/', {
      federated_model: this.options.federatedModelId,
      base_aggregate: options.baseAggregate ?? null,
      ...(options.numExamples === undefined ? {} : { num_examples: options.numExamples }),
      dtype,
      shapes: options.shapes ?? [[values.length]],
      sha256: await sha256Hex(bytes),
    });
    const put = await fetch(upload.url, {
      method: 'PUT',
      // fetch sets content-length itself; the rest of the signed headers go as the service named them.
      headers: { 'content-type': upload.headers['content-type'] ?? 'application/octet-stream' },
      body: bytes,
      signal: AbortSignal.timeout(Math.ceil(Math.max(this.timeoutMs, 60_000 + bytes.byteLength / 10_000))),
    });
    if (!put.ok) throw new FmaApiError(put.status, await put.text(), 'PUT', '(presigned upload URL)');
    return this.completeUpload(`model_updates/uploads/${upload.id}/complete/`);
  }

  /**
   * Takes part in a secure round (docs/secure-aggregation-protocol.md): joins the model's open
   * round (or opens one), and runs its four stages (keys, shares, masked input, reveal) until the
   * round completes, polling between them. The service learns only the sum of the clients'
   * updates. Resolves with the complete round (its `aggregate` is the new aggregate's id); a round
   * that fails, or that goes on without this client, is a SecureRoundError (`code`,
   * `failureReason`), a refused call an FmaApiError.
   *
   * @param values the update: as many values as the round's `length` (nested arrays are flattened)
   * @param options.numExamples this client's weight, for a model aggregated by weighted_fedavg
   * @param options.pollMs between two polls of the round (2 s by default)
   * @param options.timeoutMs the longest one stage is waited for (by default its deadline and 2 minutes more)
   */
  async secureRound(
    values: Float32Array | Float64Array | Weights,
    options: { numExamples?: number; pollMs?: number; timeoutMs?: number } = {},
  ): Promise<SecureRound> {
    return this.secureParticipant().run(values, options);
  }

  /**
   * A participant in this model's next secure round, with one method per stage (for callers that
   * drive the stages themselves); `secureRound()` runs them all. The client must be registered.
   */
  secureParticipant(waitOptions: SecureWaitOptions = {}): SecureRoundParticipant {
    const clientId = this.uuid;
    if (clientId === undefined) throw new Error('register() first (or give clientUuid): a secure round needs the client\'s id');
    const base = `models/${this.options.federatedModelId}/secure_round/`;
    return new SecureRoundParticipant(
      {
        clientId,
        request: (method, path, body) => this.request(method, `${base}${path}`, body),
        putBytes: (url, headers, bytes) => this.putPresigned(url, headers, bytes),
      },
      waitOptions,
    );
  }

  /**
   * PUTs bytes to a presigned URL with the headers the service named, but those fetch sets itself
   * (content-length, host) and may not be given.
   */
  private async putPresigned(url: string, headers: Record<string, string>, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
    // A Headers object: names are case-insensitive, so the service's Content-Type replaces the default.
    const named = new Headers({ 'content-type': 'application/octet-stream' });
    for (const [name, value] of Object.entries(headers)) {
      if (!['content-length', 'host'].includes(name.toLowerCase())) named.set(name, value);
    }
    const put = await fetch(url, {
      method: 'PUT',
      headers: named,
      body: bytes,
      signal: AbortSignal.timeout(Math.ceil(Math.max(this.timeoutMs, 60_000 + bytes.byteLength / 10_000))),
    });
    if (!put.ok) throw new FmaApiError(put.status, await put.text(), 'PUT', '(presigned upload URL)');
  }

  /**
   * Completes an upload. The service checks a large one in the background and answers 202 with
   * `Retry-After` meanwhile: this asks again, as told, until it answers the update (201, or 200)
   * or refuses the bytes (an FmaApiError), for at most `UPLOAD_VERIFICATION_WAIT_MS`.
   */
  private async completeUpload(path: string): Promise<SentUpdate> {
    const deadline = Date.now() + UPLOAD_VERIFICATION_WAIT_MS;
    for (;;) {
      const answer = await this.send('POST', path, {});
      if (answer.status !== 202) return answer.body as SentUpdate;
      if (Date.now() > deadline) throw new FmaApiError(202, answer.body, 'POST', `/api/v1/${path}`);
      const seconds = Number(answer.headers.get('retry-after'));
      await new Promise((resolve) => setTimeout(resolve, Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1_000 : 2_000));
    }
  }

  /**
   * Downloads the newest model's weights as bytes (`get_latest_model` for large models): the
   * newest aggregate's, else the current artifact's, or null when the model has none. The bytes
   * are checked against their SHA-256.
   */
  async downloadLatestModel(options: { dtype?: WeightsDtype } = {}): Promise<DownloadedWeights | null> {
    const found = await this.request<WeightsDownload | Record<string, never>>(
      'GET',
      `models/${this.options.federatedModelId}/get_latest_model/weights/${dtypeQuery(options.dtype)}`,
    );
    return 'url' in found ? this.download(found as WeightsDownload) : null;
  }

  /**
   * Downloads an aggregate's weights as bytes, checked against their SHA-256; with `dtype`, a
   * smaller copy in that encoding (decoded here: `values` is then a Float32Array).
   */
  async downloadAggregate(aggregateId: number, options: { dtype?: WeightsDtype } = {}): Promise<DownloadedWeights> {
    return this.download(await this.request<WeightsDownload>('GET', `model_aggregates/${aggregateId}/weights/${dtypeQuery(options.dtype)}`));
  }

  private async download(descriptor: WeightsDownload): Promise<DownloadedWeights> {
    const response = await fetch(descriptor.url, { signal: AbortSignal.timeout(Math.ceil(Math.max(this.timeoutMs, 60_000 + descriptor.byte_size / 10_000))) });
    if (!response.ok) throw new FmaApiError(response.status, await response.text(), 'GET', '(presigned download URL)');
    const bytes = new Uint8Array(await response.arrayBuffer());
    const sha256 = await sha256Hex(bytes);
    if (bytes.byteLength !== descriptor.byte_size || sha256 !== descriptor.sha256) {
      throw new FmaApiError(502, `downloaded ${bytes.byteLength} bytes with SHA-256 ${sha256}; expected ${descriptor.byte_size} bytes, ${descriptor.sha256}`, 'GET', '(presigned download URL)');
    }
    return {
      values: fromLittleEndian(bytes, descriptor.dtype, descriptor.length),
      shapes: descriptor.shapes,
      layout: descriptor.layout,
      aggregate: descriptor.aggregate ?? null,
      sha256,
    };
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.send(method, path, body)).body as T;
  }

  /** One API call: its status, headers and parsed body; an FmaApiError unless it is a 2xx. */
  private async send(method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.uuid !== undefined) headers['CLIENT-UUID'] = this.uuid;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}/api/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    if (!response.ok) throw new FmaApiError(response.status, parsed, method, `/api/v1/${path}`);
    return { status: response.status, headers: response.headers, body: parsed };
  }
}

function dtypeQuery(dtype: WeightsDtype | undefined): string {
  return dtype === undefined ? '' : `?dtype=${dtype}`;
}
