import type { Db } from 'mongodb';

export interface PingResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly error?: string;
}

/** Asks the server for `ping`; never throws, so callers can report a down database as data. */
export async function pingDatabase(db: () => Promise<Db>): Promise<PingResult> {
  const started = performance.now();
  try {
    await (await db()).command({ ping: 1 });
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

export interface ServerDescription {
  /** The MongoDB version the server reports. */
  readonly version: string;
  /** FerretDB's own version, when the server is FerretDB. */
  readonly ferretdbVersion?: string;
}

/**
 * Connects to `uri` with a throwaway client, retrying `ping` until it answers or `timeoutMs`
 * passes, and describes the server. For scripts that start or check a database.
 */
export async function waitForServer(uri: string, timeoutMs: number): Promise<ServerDescription> {
  const { MongoClient } = await import('mongodb');
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const client = new MongoClient(uri, {
      serverSelectionTimeoutMS: Math.max(250, Math.min(2_000, deadline - Date.now())),
      directConnection: true,
    });
    try {
      const admin = client.db('admin');
      await admin.command({ ping: 1 });
      const info = await admin.command({ buildInfo: 1 });
      return {
        version: String(info.version),
        ...(typeof info.ferretdbVersion === 'string' ? { ferretdbVersion: info.ferretdbVersion } : {}),
      };
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`No MongoDB server answered a ping at ${uri} within ${timeoutMs} ms: ${reason}`);
}
