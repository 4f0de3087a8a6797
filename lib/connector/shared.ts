import { create } from './factory';
import { setRunStateRecorder } from './run-state-recorder';
import type { MongoMetadataConnector } from './mongo-metadata-connector';

let shared: MongoMetadataConnector | undefined;

// An aggregation task's run records are written by this container's connector.
setRunStateRecorder((report) => getConnector().recordRunState(report));

/** The connector every handler in this container uses, on the shared MongoClient. */
export function getConnector(): MongoMetadataConnector {
  shared ??= create('MongoMetadataConnector');
  return shared;
}
