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

/** A secure round's stage (docs/secure-aggregation-protocol.md). */
export type SecureRoundStatus = 'advertising' | 'sharing' | 'masking' | 'unmasking' | 'summing' | 'complete' | 'failed';

/** A participant of a secure round: its index (1..n, by client id) and its public keys (base64 of 32 raw bytes). */
export interface SecureRoundMember {
  client: string;
  index: number;
  c_public_key: string;
  s_public_key: string;
}

/** A secure round as `GET models/{id}/secure_round/` answers it. */
export interface SecureRound {
  /** The round's number within its model. */
  round: number;
  /** `"{model}:{round}"`: the round id the keys and shares are bound to. */
  id: string;
  federated_model: number;
  status: SecureRoundStatus;
  stage_deadline: string | null;
  threshold: number;
  clip_range: number;
  bits: number;
  max_weight: number;
  weighted: boolean;
  /** m: how many values an update has (its masked input has m + 1 words, the last the weight). */
  length: number;
  shapes: number[][];
  layout: 'vector' | 'layers';
  /** Empty while advertising. */
  participants: SecureRoundMember[];
  sharers: string[];
  maskers: string[];
  revealers: string[];
  aggregate: number | null;
  failure_reason: string | null;
  /** The calling client's public id: how the round names it (never its CLIENT-UUID credential). */
  caller: string | null;
}
