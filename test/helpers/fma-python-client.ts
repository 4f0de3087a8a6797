import { connect } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';

/**
 * FMA's published Python client (`fma_connect.WebClient`, clients/python_client/fma_connect/
 * clients.py) as it appears on the wire, so that a test can send its requests byte for byte
 * without Python. Each call is one `requests.get`/`requests.post` (no session: a new connection
 * each time) with `timeout=10` and, once the client has a UUID, `headers={"CLIENT-UUID": uuid}`.
 * `register` posts no body at all; the others post `json=params`, which python-requests
 * serializes with `json.dumps(params, allow_nan=False)`: separators `", "` and `": "`,
 * non-ASCII escaped as `\uXXXX`, floats in Python's repr (`1.0`, `1e-05`), keys in the order of
 * the client's dict. Checked against what python-requests 2.34.2 puts on the wire (see the
 * captured requests in test/e2e/fma-python-client.test.ts).
 */

/** A Python `float` (JSON `1.0`, where a JavaScript number would print `1`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Marks every number in a (nested) list as a Python float, as training code produces them. */
export function pyFloats(values: unknown): unknown {
  if (Array.isArray(values)) return values.map(pyFloats);
  return typeof values === 'number' ? new PyFloat(values) : values;
}

/** `repr(float)` in CPython: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(value: number): string {
  if (!Number.isFinite(value)) throw new Error('python-requests refuses NaN and Infinity (allow_nan=False)');
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa, exponentText] = Math.abs(value).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const rest = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${rest}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.padEnd(exponent + 1, '0').slice(0, exponent + 1);
  return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
}

function pythonString(text: string): string {
  let out = '"';
  for (const unit of text) {
    for (let i = 0; i < unit.length; i++) {
      const code = unit.charCodeAt(i);
      const char = unit[i]!;
      if (char === '"') out += '\\"';
      else if (char === '\\') out += '\\\\';
      else if (char === '\n') out += '\\n';
      else if (char === '\r') out += '\\r';
      else if (char === '\t') out += '\\t';
      else if (char === '\b') out += '\\b';
      else if (char === '\f') out += '\\f';
      else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
      else out += char;
    }
  }
  return `${out}"`;
}

/** `json.dumps(value)` with Python's defaults (a JavaScript number is an `int` unless a PyFloat). */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pythonFloatRepr(value);
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([key, item]) => `${pythonString(key)}: ${pythonJsonDumps(item)}`)
    .join(', ')}}`;
}

export interface WireRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly uuid?: string | null;
  /** What the client passes as `json=`; undefined for no body (register, the GETs). */
  readonly json?: unknown;
}

/** The request exactly as python-requests 2.34.2 writes it to the socket. */
export function pythonRequestsBytes(host: string, request: WireRequest): Buffer {
  const lines = [
    `${request.method} ${request.path} HTTP/1.1`,
    `Host: ${host}`,
    'User-Agent: python-requests/2.34.2',
    'Accept-Encoding: gzip, deflate',
    'Accept: */*',
    'Connection: keep-alive',
  ];
  // requests drops a header whose value is None; the client sends none until it has a UUID.
  if (request.uuid) lines.push(`CLIENT-UUID: ${request.uuid}`);
  let body = Buffer.alloc(0);
  if (request.json !== undefined) {
    body = Buffer.from(pythonJsonDumps(request.json), 'utf8');
    lines.push(`Content-Length: ${body.length}`, 'Content-Type: application/json');
  } else if (request.method !== 'GET') {
    lines.push('Content-Length: 0'); // requests states an empty body on POST
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

export interface WireReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
  /** `response.json()`, or undefined when the body is not JSON. */
  readonly json: any;
}

/** Reads one HTTP/1.1 response (Content-Length or chunked; gzip/deflate as requests decodes). */
function parseReply(raw: Buffer): WireReply | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = raw.subarray(end + 4);
  let body: Buffer;
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) break;
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(chunks);
  } else {
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < length) return undefined;
    body = rest.subarray(0, length);
  }
  const encoding = headers['content-encoding'];
  if (encoding === 'gzip') body = gunzipSync(body);
  else if (encoding === 'deflate') body = inflateSync(body);
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, text, json };
}

/** Sends the exact bytes on a new connection, as each of the client's calls does, and reads the reply. */
export function sendRaw(baseUrl: string, bytes: Buffer, timeoutMs = 10_000): Promise<WireReply> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete reply within ${timeoutMs} ms: ${received.toString('latin1')}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = parseReply(received);
      if (reply !== undefined) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * The wire side of `fma_connect.WebClient`: each method sends what the Python method sends
 * (same path, same headers, same `params` in the same key order) and hands back the raw reply,
 * leaving the test to check what the Python method would check and read.
 */
export class FmaPythonWire {
  uuid: string | null;

  constructor(
    private readonly baseUrl: string,
    readonly federatedModelId: number,
    uuid: string | null = null,
  ) {
    this.uuid = uuid;
  }

  /** The requests as bytes, for comparing with a capture. */
  bytes(request: WireRequest): Buffer {
    return pythonRequestsBytes(new URL(this.baseUrl).host, request);
  }

  private send(request: WireRequest): Promise<WireReply> {
    return sendRaw(this.baseUrl, this.bytes(request));
  }

  /** `register()`: no body; CLIENT-UUID only when it has one. Keeps the `uuid` of a 200/201. */
  async register(): Promise<WireReply> {
    const reply = await this.send(this.registerRequest());
    if ((reply.status === 200 || reply.status === 201) && typeof reply.json?.uuid === 'string') this.uuid = reply.json.uuid;
    return reply;
  }

  registerRequest(): WireRequest {
    return { method: 'POST', path: `/api/v1/models/${this.federatedModelId}/register_client/`, uuid: this.uuid };
  }

  /** `send_update(data, base_aggregate)`. */
  sendUpdate(data: unknown, baseAggregate: number | null = null): Promise<WireReply> {
    return this.send(this.sendUpdateRequest(data, baseAggregate));
  }

  sendUpdateRequest(data: unknown, baseAggregate: number | null = null): WireRequest {
    return {
      method: 'POST',
      path: '/api/v1/model_updates/',
      uuid: this.uuid,
      json: { federated_model: this.federatedModelId, data, base_aggregate: baseAggregate },
    };
  }

  /** `check_for_new_model_aggregate()`. */
  getLatestAggregate(): Promise<WireReply> {
    return this.send(this.getRequest('get_latest_aggregate'));
  }

  /** `check_for_latest_model()`. */
  getLatestModel(): Promise<WireReply> {
    return this.send(this.getRequest('get_latest_model'));
  }

  /** `get_current_artifact()`. */
  getCurrentArtifact(): Promise<WireReply> {
    return this.send(this.getRequest('get_current_artifact'));
  }

  getRequest(action: 'get_latest_aggregate' | 'get_latest_model' | 'get_current_artifact'): WireRequest {
    return { method: 'GET', path: `/api/v1/models/${this.federatedModelId}/${action}/`, uuid: this.uuid };
  }

  /** `send_val_results(results, aggregate_id)`. */
  sendValResults(results: unknown, aggregateId: number): Promise<WireReply> {
    return this.send(this.sendValResultsRequest(results, aggregateId));
  }

  sendValResultsRequest(results: unknown, aggregateId: number): WireRequest {
    return {
      method: 'POST',
      path: '/api/v1/client_aggregate_scores/',
      uuid: this.uuid,
      json: { validation_results: results, federated_model: this.federatedModelId, aggregate: aggregateId, client: this.uuid },
    };
  }
}
