import { z } from 'zod';
import { WeightsRefSchema } from '../weights/stored-weights';
import { ClientIdSchema, EntityIdSchema, RunIdSchema } from './ids';
import { UpdateStatus } from './update-status';

export const UpdateStatusSchema = z.union(
  Object.values(UpdateStatus).map((code) => z.literal(code)) as [
    z.ZodLiteral<UpdateStatus>,
    ...z.ZodLiteral<UpdateStatus>[],
  ],
  { error: 'must be a status code 0-4 (PENDING, RUNNING, COMPLETE, FAILED, INVALID)' },
);

/** One transition of an update's status, kept in a short history on the update itself. */
export const StatusChangeSchema = z.object({
  status: UpdateStatusSchema,
  at: z.date(),
  run: RunIdSchema.nullable(),
  reason: z.string().nullable(),
});

export type StatusChange = z.infer<typeof StatusChangeSchema>;

/** A client's weight update for a model, with its embedded status (weights are kept apart). */
export const ModelUpdateSchema = z.object({
  id: EntityIdSchema,
  federatedModel: EntityIdSchema,
  client: ClientIdSchema,
  status: UpdateStatusSchema,
  /** The aggregate the client trained from. */
  baseAggregate: EntityIdSchema.nullable(),
  /** The aggregate this update went into. */
  appliedAggregate: EntityIdSchema.nullable(),
  /** How many examples the client trained on (the weight in weighted FedAvg), when it said. */
  numExamples: z.number().int().nonnegative().nullable(),
  /** The run that claimed it last, and when. */
  claimedBy: RunIdSchema.nullable(),
  claimedAt: z.date().nullable(),
  /** Why it failed or is invalid. */
  statusReason: z.string().nullable(),
  statusHistory: z.array(StatusChangeSchema),
  /** Where its weights are in the object store, and their shape, dtype, size and SHA-256. */
  weights: WeightsRefSchema,
  createdOn: z.date(),
});

export type ModelUpdate = z.infer<typeof ModelUpdateSchema>;
