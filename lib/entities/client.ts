import { z } from 'zod';
import { ClientIdSchema } from './ids';

/** A federated client; its credentials are stored apart from what is returned. */
export const ClientSchema = z.object({
  id: ClientIdSchema,
  createdOn: z.date(),
});

export type Client = z.infer<typeof ClientSchema>;
