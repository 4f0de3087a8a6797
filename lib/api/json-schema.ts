import Ajv, { type ValidateFunction } from 'ajv';
import { ValidationError } from '../errors';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

/** Checks that a model's JSON Schema compiles (when the model is created). */
export function assertValidJsonSchema(schema: Record<string, unknown> | null, field: string): void {
  if (schema === null) return;
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
    compiled.set(key, validate);
  }
  return validate;
}
