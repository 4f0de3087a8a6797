/**
 * A TypeScript client for federated clients, with the calls of FMA's Python client: register,
 * send an update, poll for the newest aggregate or model, fetch the current artifact, send
 * validation results. It uses only `fetch`, so it runs in Node.js 18+ and browsers.
 *
 * @example
 * const client = new FmaClient({ baseUrl: 'https://api.example.com', federatedModelId: 1 });
 * await client.register();
 * const latest = await client.checkForLatestModel();
 * await client.sendUpdate(train(latest?.values), latest?.aggregate ?? null);
 */

/** An HTTP answer other than 2xx: its status code and (parsed) body. */
export class FmaApiError extends Error {
  static {
    this.prototype.name = 'FmaApiError';
  }
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path} answered ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
  }
}

export interface FmaClientOptions {
  readonly baseUrl: string;
  readonly federatedModelId: number;
  /** A client UUID from an earlier `register()`; without one, `register()` makes a new client. */
  readonly clientUuid?: string;
  /** The model's join secret, if it has one. */
  readonly joinSecret?: string;
  /** Per request; 10 s by default. */
  readonly timeoutMs?: number;
}

export type Weights = number[] | Weights[];

export interface ModelAggregate {
  id: number;
  federated_model: number;
  parent: number | null;
  level: number;
  result?: Weights;
  validation_score: number | null;
  created_on: string;
}

export interface ModelArtifact {
  id: number;
  federated_model: number;
  version: string;
  values?: Weights;
  created_on: string;
}

export interface SentUpdate {
  id: number;
  client: string;
  federated_model: number;
  data: Weights;
  created_on: string;
  base_aggregate: number | null;
}

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

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
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
    return parsed as T;
  }
}
