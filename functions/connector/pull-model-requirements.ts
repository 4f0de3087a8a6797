import { z } from 'zod';
import { Id } from '../../lib/api/operation-fields';
import { getConnector } from '../../lib/connector';
import { createHandler } from '../../lib/http/handler';

export const input = z.strictObject({ model: Id });

/** `pull_model_requirements`: `[requirement or null, requirement_args]`, as the seed returns it. */
export const handler = createHandler({ input }, async ({ model }) => getConnector().pullModelRequirements(model));
