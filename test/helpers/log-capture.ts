/**
 * What the process writes to stdout and stderr while captured: where Powertools' logger and
 * metrics write (each through a Console of its own on those streams, so `console` spies miss them).
 * Captured text is kept, not passed on.
 */
export function captureOutput() {
  const chunks: string[] = [];
  const spies = (['stdout', 'stderr'] as const).map((name) =>
    jest.spyOn(process[name], 'write').mockImplementation(((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write),
  );
  return {
    /** Everything written, as one string. */
    text: () => chunks.join(''),
    /** Each non-empty line written. */
    lines: () => chunks.join('').split('\n').filter((line) => line.trim() !== ''),
    /** Each line parsed as JSON (a line that is not JSON throws: every line must be). */
    json: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, any>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}
