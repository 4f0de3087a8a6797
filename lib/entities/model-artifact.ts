import { z } from 'zod';
import { EntityIdSchema } from './ids';

/** A published, versioned set of weights of a model (version unique per model). */
export const ModelArtifactSchema = z.object({
  id: EntityIdSchema,
  federatedModel: EntityIdSchema,
  version: z.string(),
  createdOn: z.date(),
});

export type ModelArtifact = z.infer<typeof ModelArtifactSchema>;
