/** The API's JSON, as far as the dashboard reads it (lib/api/representation.ts). */
export interface ModelJson {
  id: number;
  name: string;
  clients: string[];
  /** Only for a model with more than 1,000 members (`clients` lists the first 1,000). */
  clients_count?: number;
  aggregator: string;
  requirement: string | null;
  requirement_args: unknown[];
  allow_aggregation: boolean;
  current_artifact: number | null;
  created_on: string;
  /** Set for a model whose clients send masked inputs through secure rounds (issue #28). */
  secure_aggregation?: SecureAggregationJson | null;
}

/** A model's secure aggregation settings (docs/secure-aggregation-protocol.md, "Parameters"). */
export interface SecureAggregationJson {
  threshold: number;
  clip_range: number;
  bits: number;
  max_weight: number;
  stage_seconds: number;
}

/** A secure round's stages in order, then its two ends. */
export const SECURE_ROUND_STATUSES = ['advertising', 'sharing', 'masking', 'unmasking', 'summing', 'complete', 'failed'] as const;
export type SecureRoundStatus = (typeof SECURE_ROUND_STATUSES)[number];

/** One secure round (`GET models/{id}/secure_round/`), as far as the dashboard reads it: never its keys. */
export interface SecureRoundJson {
  round: number;
  id: string;
  federated_model: number;
  status: SecureRoundStatus;
  stage_deadline: string;
  threshold: number;
  participants: unknown[];
  sharers: string[];
  maskers: string[];
  revealers: string[];
  aggregate: number | null;
  failure_reason: string | null;
}

export interface UpdateJson {
  id: number;
  client: string;
  status: number;
  applied_aggregate: number | null;
  status_reason: string | null;
  created_on: string;
}

export interface AggregateJson {
  id: number;
  parent: number | null;
  level: number;
  validation_score: number | null;
  created_on: string;
}

export interface ScoreJson {
  id: number;
  aggregate: number;
  client: string;
  validation_results: unknown;
}

/** `get_current_artifact` answers `{}` when the model has none. */
export interface ArtifactJson {
  id?: number;
  version?: string;
  values?: unknown;
  created_on?: string;
}

/** FMA's status codes (lib/entities/update-status.ts). */
export const STATUSES = [
  { code: 0, name: 'pending' },
  { code: 1, name: 'running' },
  { code: 2, name: 'complete' },
  { code: 3, name: 'failed' },
  { code: 4, name: 'invalid' },
] as const;

/** What a run's tasks threw (lib/api/response-schemas.ts, AggregationRunError). */
export interface RunErrorJson {
  state: string | null;
  error: string;
  cause: string | null;
}

/** One aggregation run, as `GET models/{id}/runs/` lists it. */
export interface RunJson {
  name: string;
  model: number;
  trigger: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
  final_state: string | null;
  last_state: string | null;
  started_at: string;
  stopped_at: string | null;
  duration_ms: number;
  claimed: number | null;
  aggregate: number | null;
  error: RunErrorJson | null;
}

/** One run with its Task states (`GET models/{id}/runs/{name}/`). */
export interface RunDetailJson extends RunJson {
  states: { state: string; entered_at: string; exited_at: string; duration_ms: number; error: { error: string; cause: string | null } | null }[];
  states_dropped: number;
}
