import { z } from 'zod';
import { ClientIdSchema, EntityIdSchema } from './ids';

/**
 * A model's secure aggregation settings (issue #28; docs/secure-aggregation-protocol.md): with
 * them, the service holds only masked inputs and learns nothing but their sum.
 */
export const SecureAggregationOptionsSchema = z.strictObject({
  /** Shamir threshold, and the fewest clients that may remain at every stage. */
  threshold: z.number().int('threshold must be a whole number of clients').min(2, 'threshold must be at least 2'),
  /** Every value is clipped to [-clip_range, clip_range] before it is encoded. */
  clip_range: z.number().finite().positive('clip_range must be > 0').max(1e12),
  /** Fixed-point scale 2^(bits-1) - 1. */
  bits: z.number().int().min(2, 'bits must be in [2, 31]').max(31, 'bits must be in [2, 31]').default(16),
  /** The largest weight (weighted_fedavg: num_examples) a client may give its update. */
  max_weight: z.number().int().min(1, 'max_weight must be at least 1').max(2 ** 30).default(1),
  /** How long each stage stays open at most. */
  stage_seconds: z.number().int().min(1, 'stage_seconds must be in [1, 86400]').max(86_400, 'stage_seconds must be in [1, 86400]').default(300),
});

export type SecureAggregationOptions = z.output<typeof SecureAggregationOptionsSchema>;
export type SecureAggregationOptionsInput = z.input<typeof SecureAggregationOptionsSchema>;

/** A secure round's stages, in order, then its two ends. */
export const SECURE_ROUND_STATUSES = ['advertising', 'sharing', 'masking', 'unmasking', 'summing', 'complete', 'failed'] as const;
export type SecureRoundStatus = (typeof SECURE_ROUND_STATUSES)[number];

/** The stages clients answer in, each closed at its deadline or when every expected client answered. */
export const CLIENT_STAGES = ['advertising', 'sharing', 'masking', 'unmasking'] as const;
export type ClientStage = (typeof CLIENT_STAGES)[number];

export const SecureRoundParticipantSchema = z.object({
  client: ClientIdSchema,
  /** 1..n in the order of the client ids: the Shamir x and the pairwise masks' sign. */
  index: z.number().int().positive(),
  cPublicKey: z.string(),
  sPublicKey: z.string(),
});

export type SecureRoundParticipant = z.infer<typeof SecureRoundParticipantSchema>;

/** One secure round of a model: its stage, its survivors at each stage, and how it ended. */
export interface SecureRound {
  /** `${model}:${number}`: what the clients' keys are bound to (HKDF salt, AEAD data). */
  readonly id: string;
  readonly federatedModel: number;
  readonly number: number;
  readonly status: SecureRoundStatus;
  readonly stageDeadline: Date;
  readonly options: SecureAggregationOptions;
  /** Whether clients weigh their updates (weighted_fedavg) or all weigh 1. */
  readonly weighted: boolean;
  readonly shape: { readonly layout: 'vector' | 'layers'; readonly shapes: readonly (readonly number[])[]; readonly length: number };
  /** U1, fixed when key advertisement closes. */
  readonly participants: readonly SecureRoundParticipant[];
  /** U2, U3, U5 of the paper: who answered sharing, masked input, unmasking. */
  readonly sharers: readonly string[];
  readonly maskers: readonly string[];
  readonly revealers: readonly string[];
  readonly aggregate: number | null;
  readonly failureReason: string | null;
  readonly createdOn: Date;
}

export const SecureRoundNumberSchema = EntityIdSchema;

/** A share revealed for the unmasking: of a survivor's `b`, or of a dropped client's `sk`. */
export interface SecureRoundReveal {
  readonly of: string;
  readonly kind: 'b' | 'sk';
  readonly share: string;
}
