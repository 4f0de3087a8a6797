import { z } from 'zod';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({});

/** `update_database`: creates collections and indexes; safe to run twice and concurrently. */
export const handler = createHandler({ input }, async () => getConnector().updateDatabase());
