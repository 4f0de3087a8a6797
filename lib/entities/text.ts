import { z } from 'zod';

/**
 * Rules for text that the database keeps as a string. PostgreSQL (under FerretDB) cannot hold
 * U+0000 in text or JSONB, while MongoDB can, so a string holding it would be stored on one and
 * be a server error on the other; refusing it at the edge makes both answer the same 400.
 * Text kept inside a JSON string (validation results, JSON Schemas, requirement arguments) is
 * escaped by `JSON.stringify` and may hold any character; secrets and credentials are hashed.
 */

/** No C0 or C1 control character, nor DEL: what a one-line name or label may hold. */
const WITHOUT_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f]*$/;
/** No U+0000: what free text (a reason, a message) may hold. */
const WITHOUT_NUL = /^[^\u0000]*$/;

/** A name or label: one line, so control characters (U+0000–U+001F, U+007F–U+009F) make no sense in it. */
export const LineOfTextSchema = z
  .string()
  .regex(WITHOUT_CONTROL_CHARACTERS, 'must not contain control characters (U+0000 to U+001F, U+007F to U+009F)');

/** Free text (several lines allowed), which must still not hold U+0000. */
export const FreeTextSchema = z.string().regex(WITHOUT_NUL, 'must not contain the character U+0000');

/** A model's name, as the API and the connector take it. */
export const ModelNameSchema = LineOfTextSchema.trim()
  .min(1, 'must not be empty')
  .max(200)
  .meta({ description: 'One line: no control characters (U+0000 to U+001F, U+007F to U+009F); trimmed' });

/** An artifact's version (`1.0.0`). */
export const ArtifactVersionSchema = LineOfTextSchema.trim()
  .min(1, 'must not be empty')
  .max(100)
  .meta({ description: 'One line: no control characters (U+0000 to U+001F, U+007F to U+009F); trimmed' });

/** A developer's name. */
export const DeveloperNameSchema = LineOfTextSchema.trim().min(1, 'must not be empty').max(200);

/** Why updates failed or a run ended, as operators and the state machine give it. */
export const ReasonSchema = FreeTextSchema.max(1_000).meta({ description: 'Free text without U+0000' });

/**
 * Diagnostic text the service writes itself (an error's message), which may quote anything a
 * client sent: U+0000 becomes U+FFFD rather than losing the record.
 */
export function storableDiagnostic(text: string): string {
  return text.replaceAll('\u0000', '\ufffd');
}
