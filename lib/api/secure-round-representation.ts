import { z } from 'zod';
import { ClientIdSchema, EntityIdSchema, SECURE_ROUND_STATUSES, type SecureRound } from '../entities';

/** A secure round as the API shows it (docs/secure-aggregation-protocol.md, "The round"). */
export const SecureRoundJsonSchema = z
  .object({
    round: EntityIdSchema,
    id: z.string().meta({ description: "`<model>:<round>`: what the clients' keys and ciphertexts are bound to" }),
    federated_model: EntityIdSchema,
    status: z.enum(SECURE_ROUND_STATUSES),
    stage_deadline: z.string().meta({ description: 'When the current stage closes at the latest (ISO 8601)' }),
    threshold: z.number().int(),
    clip_range: z.number(),
    bits: z.number().int(),
    max_weight: z.number().int(),
    weighted: z.boolean().meta({ description: 'true: each client weighs its update by num_examples (weighted_fedavg); false: by 1' }),
    length: z.number().int().meta({ description: 'Values in an update; a masked input holds length + 1 uint32 words' }),
    shapes: z.array(z.array(z.number().int())),
    layout: z.enum(['vector', 'layers']),
    participants: z.array(
      z.object({ client: ClientIdSchema, index: z.number().int(), c_public_key: z.string(), s_public_key: z.string() }),
    ).meta({ description: 'Fixed when key advertisement closes (empty before)' }),
    sharers: z.array(ClientIdSchema),
    maskers: z.array(ClientIdSchema),
    revealers: z.array(ClientIdSchema),
    aggregate: EntityIdSchema.nullable(),
    failure_reason: z.string().nullable(),
    caller: ClientIdSchema.nullable().meta({ description: "The calling client's public id, as the round names it (null for a developer)" }),
  })
  .meta({ id: 'SecureRound' });

export function secureRoundJson(round: SecureRound, caller: { readonly kind: string; readonly id: string } | null): z.input<typeof SecureRoundJsonSchema> {
  return {
    round: round.number,
    id: round.id,
    federated_model: round.federatedModel,
    status: round.status,
    stage_deadline: round.stageDeadline.toISOString(),
    threshold: round.options.threshold,
    clip_range: round.options.clip_range,
    bits: round.options.bits,
    max_weight: round.options.max_weight,
    weighted: round.weighted,
    length: round.shape.length,
    shapes: round.shape.shapes.map((dims) => [...dims]),
    layout: round.shape.layout,
    participants: round.participants.map((p) => ({ client: p.client, index: p.index, c_public_key: p.cPublicKey, s_public_key: p.sPublicKey })),
    sharers: [...round.sharers],
    maskers: [...round.maskers],
    revealers: [...round.revealers],
    aggregate: round.aggregate,
    failure_reason: round.failureReason,
    caller: caller?.kind === 'client' ? caller.id : null,
  };
}

/** A round number in a body: the message belongs to it (a message for another round is refused). */
export const RoundNumber = EntityIdSchema;

/** A base64 ciphertext of the AEAD (nonce, a JSON share pair, tag): a few hundred characters. */
export const Ciphertext = z.string().min(1).max(2_048).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64');
