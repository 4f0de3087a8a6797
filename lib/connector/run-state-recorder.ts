import type { RunStateReport } from './metadata-connector';

// Who writes a run's record of its states (lib/http/run-recording.ts). Set by the container's
// shared connector (shared.ts) when a function loads it, as every aggregation task does; the
// handler wrapper asks here rather than importing the connector, so that functions that never
// serve a run (health, the dashboard's files) carry no connector and no S3 client in their bundle.

type RunStateRecorder = (report: RunStateReport) => Promise<void>;

let recorder: RunStateRecorder | undefined;

export function setRunStateRecorder(record: RunStateRecorder): void {
  recorder = record;
}

/** The recorder, or undefined in a function that has no connector. */
export function runStateRecorder(): RunStateRecorder | undefined {
  return recorder;
}
