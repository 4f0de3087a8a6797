import type { Db, Document } from 'mongodb';
import { CollectionName } from './collections';

// `$jsonSchema` validators: a second line behind the connector's zod checks, for writes that go
// around it (scripts, migrations, a shell). Only the fields every writer sets are required, and
// validation is `moderate`, so documents written before a validator existed can still be updated.

const NUMBER = ['int', 'long', 'double', 'decimal'];
const nullable = (...types: string[]) => ({ bsonType: [...types, 'null'] });
const number = { bsonType: NUMBER };
const weightsRef = { bsonType: 'object', required: ['key'], properties: { key: { bsonType: 'string' } } };

/** The validator of each collection that has one (credentials and uploads have none here). */
export const VALIDATORS: Readonly<Partial<Record<CollectionName, Document>>> = {
  counters: { bsonType: 'object', required: ['_id', 'seq'], properties: { _id: { bsonType: 'string' }, seq: number } },
  federated_models: {
    bsonType: 'object',
    required: ['_id', 'name', 'aggregator', 'allowAggregation', 'createdOn'],
    properties: {
      _id: number,
      name: { bsonType: 'string' },
      developer: nullable('string'),
      aggregator: { bsonType: 'string' },
      requirement: nullable('string'),
      requirementArgsJson: { bsonType: 'string' },
      updateSchemaJson: nullable('string'),
      clientAggResultsSchemaJson: nullable('string'),
      furthestBaseAgg: nullable(...NUMBER),
      allowAggregation: { bsonType: 'bool' },
      currentArtifact: nullable(...NUMBER),
      createdOn: { bsonType: 'date' },
    },
  },
  model_clients: {
    bsonType: 'object',
    required: ['_id', 'federatedModel', 'client', 'joinedOn'],
    properties: { _id: { bsonType: 'string' }, federatedModel: number, client: { bsonType: 'string' }, joinedOn: { bsonType: 'date' } },
  },
  model_updates: {
    bsonType: 'object',
    required: ['_id', 'federatedModel', 'client', 'weights', 'status', 'createdOn'],
    properties: {
      _id: number,
      federatedModel: number,
      client: { bsonType: 'string' },
      weights: weightsRef,
      status: { bsonType: NUMBER, minimum: 0, maximum: 4 },
      numExamples: nullable(...NUMBER),
      baseAggregate: nullable(...NUMBER),
      appliedAggregate: nullable(...NUMBER),
      claimedBy: nullable('string'),
      createdOn: { bsonType: 'date' },
    },
  },
  model_aggregates: {
    bsonType: 'object',
    required: ['_id', 'federatedModel', 'level', 'weights', 'createdOn'],
    properties: { _id: number, federatedModel: number, parent: nullable(...NUMBER), level: number, weights: weightsRef, createdOn: { bsonType: 'date' } },
  },
  model_artifacts: {
    bsonType: 'object',
    required: ['_id', 'federatedModel', 'version', 'weights', 'createdOn'],
    properties: { _id: number, federatedModel: number, version: { bsonType: 'string' }, weights: weightsRef, createdOn: { bsonType: 'date' } },
  },
  client_aggregate_scores: {
    bsonType: 'object',
    required: ['_id', 'aggregate', 'client', 'validationResultsJson', 'createdOn'],
    properties: { _id: number, aggregate: number, client: { bsonType: 'string' }, validationResultsJson: { bsonType: 'string' }, createdOn: { bsonType: 'date' } },
  },
  aggregation_leases: {
    bsonType: 'object',
    required: ['_id', 'run', 'expiresAt'],
    properties: { _id: number, run: { bsonType: 'string' }, expiresAt: { bsonType: 'date' } },
  },
};

/** What `update_database` did about validators. */
export interface ValidatorsResult {
  /** Collections whose validator is installed (replaced by the current one). */
  readonly installed: readonly string[];
  /** Why none was installed (the server does not support them, e.g. FerretDB v1), or null. */
  readonly skipped: string | null;
}

/** Server answers that mean "validators are not supported here", not a failure. */
const UNSUPPORTED_CODES = new Set([
  59, // CommandNotFound
  115, // CommandNotSupported
  238, // NotImplemented
]);

/**
 * Installs each collection's validator with `collMod` (idempotent: the same validator again is a
 * no-op). A server that does not support `collMod` or `$jsonSchema` is reported, not an error.
 */
export async function installValidators(db: Db): Promise<ValidatorsResult> {
  const installed: string[] = [];
  for (const [name, schema] of Object.entries(VALIDATORS)) {
    try {
      await db.command({ collMod: name, validator: { $jsonSchema: schema }, validationLevel: 'moderate', validationAction: 'error' });
      installed.push(name);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const message = error instanceof Error ? error.message : String(error);
      if (installed.length === 0 && (UNSUPPORTED_CODES.has(code as number) || /not (implemented|supported)|unknown|no such command/i.test(message))) {
        return { installed: [], skipped: `the server does not support $jsonSchema validators (${message})` };
      }
      throw error;
    }
  }
  return { installed: installed.sort(), skipped: null };
}
