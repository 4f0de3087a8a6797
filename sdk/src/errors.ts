/** An HTTP answer other than 2xx: its status code and (parsed) body. */
export class FmaApiError extends Error {
  static {
    // A literal, not the class's own name: a minifying bundler would rename the class.
    this.prototype.name = 'FmaApiError';
  }
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path} answered ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
  }
}
