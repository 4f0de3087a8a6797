import Ajv, { type ValidateFunction } from 'ajv';
import { ValidationError } from '../errors';

const ajv = new Ajv({ allErrors: true, strict: false });

/** Compiled validators kept per container: the most recently used, at most this many. */
export const MAX_COMPILED_SCHEMAS = 200;
const compiled = new Map<string, ValidateFunction>();

/** The longest `pattern` (or `patternProperties` key) a model's JSON Schema may hold. */
export const MAX_PATTERN_LENGTH = 200;

/**
 * Checks that a model's JSON Schema compiles and holds no regular expression that could take
 * exponential time on a client's input (when the model is created). ajv runs patterns with the
 * engine's backtracking RegExp, which has no time limit, so a developer's `(a+)+$` would let any
 * client stall the function. Refused: patterns longer than MAX_PATTERN_LENGTH, backreferences,
 * and a quantified group that itself holds a quantifier or an alternation (`(a+)+`, `(a|a)*`),
 * the shapes of catastrophic backtracking. A conservative rule: some safe patterns are refused too.
 */
export function assertValidJsonSchema(schema: Record<string, unknown> | null, field: string): void {
  if (schema === null) return;
  for (const pattern of patternsOf(schema)) {
    const problem = unsafePattern(pattern);
    if (problem !== null) {
      const message = `holds the pattern ${JSON.stringify(pattern.slice(0, 60))}, refused: ${problem}`;
      throw new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
    }
  }
  try {
    validatorFor(schema);
  } catch (error) {
    throw new ValidationError(`${field} is not a valid JSON Schema: ${(error as Error).message}`, {
      details: [{ field, message: `is not a valid JSON Schema: ${(error as Error).message}` }],
    });
  }
}

/**
 * Validates `value` against a model's JSON Schema (ajv; compiled once per schema per container).
 * Fails with FMA's message: `{"<field>": ["<field> did not match the required schema: ..."]}`.
 */
export function assertMatchesSchema(schema: Record<string, unknown> | null, value: unknown, field: string): void {
  if (schema === null) return;
  const validate = validatorFor(schema);
  if (validate(value)) return;
  const message = `${field} did not match the required schema: ${ajv.errorsText(validate.errors, { dataVar: field })}`;
  throw new ValidationError(message, { details: [{ field, message }] });
}

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    if (compiled.size >= MAX_COMPILED_SCHEMAS) {
      // Forget the least recently used (a Map iterates in insertion order) and ajv's copy of it.
      const [oldestKey, oldest] = compiled.entries().next().value as [string, ValidateFunction];
      compiled.delete(oldestKey);
      ajv.removeSchema(oldest.schema as object);
    }
  } else {
    compiled.delete(key);
  }
  compiled.set(key, validate);
  return validate;
}

/** Every `pattern` string and `patternProperties` key in a schema, found without recursion. */
function patternsOf(schema: unknown): string[] {
  const found: string[] = [];
  const pending: unknown[] = [schema];
  while (pending.length > 0) {
    const item = pending.pop();
    if (item === null || typeof item !== 'object') continue;
    if (Array.isArray(item)) {
      pending.push(...item);
      continue;
    }
    for (const [key, value] of Object.entries(item)) {
      if (key === 'pattern' && typeof value === 'string') found.push(value);
      if (key === 'patternProperties' && value !== null && typeof value === 'object') found.push(...Object.keys(value));
      pending.push(value);
    }
  }
  return found;
}

/** Why a pattern may backtrack catastrophically, or null. */
export function unsafePattern(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed';
  // Innermost groups first: a quantified group holding a quantifier or `|` is refused; then the
  // group is replaced by one character (NUL when it held a quantifier) and the next one checked.
  let rest = pattern.replace(/\\./g, 'x').replace(/\[(?:[^\]])*\]/g, 'x');
  for (;;) {
    const group = /\(([^()]*)\)/.exec(rest);
    if (group === null) return null;
    const inner = group[1]!;
    const after = rest.slice(group.index + group[0].length);
    const quantified = /^(?:[*+]|\{\d*,?\d*\})/.test(after);
    const risky = /[*+|\u0000]|\{\d*,?\d*\}/.test(inner.replace(/^\?(?::|=|!|<=|<!)/, ''));
    if (quantified && risky) return 'a repeated group that itself repeats or alternates can take exponential time';
    rest = `${rest.slice(0, group.index)}${/[*+]|\{/.test(inner) ? '\u0000' : 'x'}${after}`;
  }
}
