import { MongoClient } from 'mongodb';
import { z } from 'zod';
import { getConfig } from '../config';
import { getDatabase } from '../db/client';
import { ValidationError } from '../errors';
import { validationErrorFromZod } from '../errors/from-zod';
import { MongoMetadataConnector } from './mongo-metadata-connector';

/** Settings of the MongoDB connector; with none, it uses the container's shared client. */
export const MongoMetadataConnectorSettingsSchema = z
  .object({
    /** A connection string: the connector then owns a client of its own (close it when done). */
    connection_string: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URI').optional(),
    /** The database; defaults to MONGODB_DB_NAME. */
    database_name: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be 1-63 letters, digits, "_" or "-"')
      .optional(),
  })
  .strict();

export type MongoMetadataConnectorSettings = z.input<typeof MongoMetadataConnectorSettingsSchema>;

const CONNECTOR_TYPES = {
  mongometadataconnector: (settings: unknown) => {
    const parsed = MongoMetadataConnectorSettingsSchema.safeParse(settings ?? {});
    if (!parsed.success) throw validationErrorFromZod(parsed.error, 'meta_connector_settings');
    const { connection_string: uri, database_name: databaseName } = parsed.data;
    if (uri === undefined) {
      return new MongoMetadataConnector(async () => {
        const db = await getDatabase();
        return databaseName === undefined ? db : db.client.db(databaseName);
      });
    }
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: getConfig().MONGODB_SERVER_SELECTION_TIMEOUT_MS });
    const connected = client.connect();
    connected.catch(() => undefined); // surfaced by the first operation, not as an unhandled rejection
    return new MongoMetadataConnector(async () => (await connected).db(databaseName ?? getConfig().MONGODB_DB_NAME), {
      onClose: () => client.close(),
    });
  },
} as const;

/** The connector types `create` knows, as they are spelled in errors and docs. */
export const KNOWN_CONNECTOR_TYPES = ['MongoMetadataConnector'] as const;

/**
 * The factory of FMA's `BaseMetadataConnector.create`: the type is matched case-insensitively and
 * the settings are validated; an unknown type is an error that names the known ones.
 *
 * @example
 * const connector = create('MongoMetadataConnector', { connection_string: 'mongodb://127.0.0.1:27017', database_name: 'fma' });
 */
export function create(metaConnectorType: string, metaConnectorSettings?: unknown): MongoMetadataConnector {
  const key = String(metaConnectorType).toLowerCase();
  if (!Object.hasOwn(CONNECTOR_TYPES, key)) {
    throw new ValidationError(
      `Unknown metadata connector type "${metaConnectorType}"; known types: ${KNOWN_CONNECTOR_TYPES.join(', ')}`,
      { details: [{ field: 'meta_connector_type', message: `must be one of ${KNOWN_CONNECTOR_TYPES.join(', ')}` }] },
    );
  }
  return CONNECTOR_TYPES[key as keyof typeof CONNECTOR_TYPES](metaConnectorSettings);
}
