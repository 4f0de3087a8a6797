import { create } from './factory';
import type { MongoMetadataConnector } from './mongo-metadata-connector';

let shared: MongoMetadataConnector | undefined;

/** The connector every handler in this container uses, on the shared MongoClient. */
export function getConnector(): MongoMetadataConnector {
  shared ??= create('MongoMetadataConnector');
  return shared;
}
