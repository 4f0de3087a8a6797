import { z } from 'zod';
import type { ObjectStore } from '../store';
import { encodedCopy, presignWeightsDownload } from '../store/weights';
import { WEIGHTS_DTYPES, type WeightsDtype, type WeightsRef } from '../weights';

/**
 * `?dtype=` of the weights download routes (issue #26): the weights as stored when absent, else
 * a copy in that dtype (float16, bfloat16 and int8 for a smaller download; the aggregate itself
 * stays float64 or float32). The reply's `dtype`, `byte_size` and `sha256` are the copy's.
 */
export const WeightsDownloadQuery = z.object({
  dtype: z.enum(WEIGHTS_DTYPES).optional().describe(`The dtype to download the weights in: one of ${WEIGHTS_DTYPES.join(', ')} (default: as stored)`),
});

/** The reference to answer with (the stored one, or its copy in `dtype`) and a presigned GET of it. */
export async function presignedInDtype(
  store: ObjectStore,
  ref: WeightsRef,
  dtype: WeightsDtype | undefined,
): Promise<[WeightsRef, { url: string; expiresAt: Date }]> {
  const chosen = dtype === undefined ? ref : await encodedCopy(store, ref, dtype);
  return [chosen, await presignWeightsDownload(store, chosen)];
}
