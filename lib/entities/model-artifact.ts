import { z } from 'zod';
import { WeightsRefSchema } from '../weights/stored-weights';
import { EntityIdSchema } from './ids';

/** A published, versioned set of weights of a model (version unique per model). */
export const ModelArtifactSchema = z.object({
  id: EntityIdSchema,
  federatedModel: EntityIdSchema,
  version: z.string(),
  /** Where its weights are in the object store, and their shape, dtype, size and SHA-256. */
  weights: WeightsRefSchema,
  createdOn: z.date(),
});

export type ModelArtifact = z.infer<typeof ModelArtifactSchema>;
