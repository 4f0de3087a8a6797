import { ValidationError } from '../errors';

/**
 * An id in a request body that names nothing: 400 `{"<field>": ["Invalid pk \"<id>\" - object
 * does not exist."]}`, as DRF's PrimaryKeyRelatedField answers (an id in the path that names
 * nothing stays a 404).
 */
export function invalidPk(field: string, id: unknown): ValidationError {
  const message = `Invalid pk "${String(id)}" - object does not exist.`;
  return new ValidationError(`${field} ${message}`, { details: [{ field, message }] });
}
