import { PayloadTooLargeError, ValidationError } from '../errors';

/**
 * Limits on the free-form JSON a caller may store or have checked (JSON Schemas, requirement
 * arguments, validation results, and `data` before its schema check): nesting depth and size.
 * The whole body is at most 5 MiB already (`MAX_JSON_BODY_BYTES`); these bound each field, so no
 * deep value reaches a recursive consumer (ajv, JSON.stringify, the BSON encoder) and no document
 * grows past what the database takes.
 */
export const JSON_FIELD_LIMITS = {
  /** Lists and objects nested deeper than this are refused. */
  maxDepth: 32,
  /** Bytes of a schema, requirement arguments or validation results, as compact JSON. */
  maxBytes: 64 * 1024,
} as const;

/**
 * Refuses (400) a value nested deeper than `maxDepth`, walking it without recursion, then (413) one
 * whose compact JSON is larger than `maxBytes`. `maxBytes: null` checks the depth only.
 *
 * @example assertJsonLimits(body.validation_results, 'validation_results')
 */
export function assertJsonLimits(
  value: unknown,
  field: string,
  limits: { readonly maxDepth?: number; readonly maxBytes?: number | null } = {},
): void {
  const maxDepth = limits.maxDepth ?? JSON_FIELD_LIMITS.maxDepth;
  const maxBytes = limits.maxBytes === undefined ? JSON_FIELD_LIMITS.maxBytes : limits.maxBytes;
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth > maxDepth) {
      const message = `is nested more than ${maxDepth} levels deep (the limit)`;
      throw new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
    }
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (child !== null && typeof child === 'object') pending.push([child, depth + 1]);
    }
  }
  if (maxBytes === null || value === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (size > maxBytes) {
    throw new PayloadTooLargeError(`${field} is ${size} bytes as JSON; the limit is ${maxBytes} bytes`);
  }
}
