/**
 * How many coordinates a block of the coordinate-wise strategies (median, trimmed mean, Krum's
 * distances) holds, when the model does not say (`aggregator_params.block_size`).
 *
 * The aggregation Lambda has 1,769 MB (one full vCPU). Block buffers take N × block × 8 bytes (one
 * per update, float64 at most); the result takes P × 8 and Krum's mean of the selected updates a
 * few times the model. Giving the buffers 256 MiB leaves the rest for the result, the runtime and
 * the store client up to models of tens of millions of values, and keeps each ranged GET between
 * 2 KB and 32 MB: at N = 100 a block is 335,544 values (2.7 MB per update and block).
 */
export const BLOCK_BUFFER_BUDGET_BYTES = 256 * 1024 * 1024;
export const MIN_BLOCK_VALUES = 256;
export const MAX_BLOCK_VALUES = 4 * 1024 * 1024;

export function defaultBlockValues(updates: number): number {
  const fit = Math.floor(BLOCK_BUFFER_BUDGET_BYTES / (Math.max(1, updates) * 8));
  return Math.min(MAX_BLOCK_VALUES, Math.max(MIN_BLOCK_VALUES, fit));
}
