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

/** Where weights can be downloaded, as the service describes them. */
export interface WeightsDownload {
  url: string;
  expires_at: string;
  dtype: 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8';
  layout: 'vector' | 'layers';
  shapes: number[][];
  length: number;
  byte_size: number;
  sha256: string;
  aggregate?: number | null;
}

/** Downloaded weights: the values in one typed array, with the layer shapes to cut them by. */
export interface DownloadedWeights {
  values: Float32Array | Float64Array;
  shapes: number[][];
  layout: 'vector' | 'layers';
  aggregate: number | null;
  sha256: string;
}
