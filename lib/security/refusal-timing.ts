/**
 * Makes refusing an unknown credential take as long as accepting a known one (issue #13).
 *
 * Both look the credential up by its SHA-256 in one indexed read, so nothing about a guess's
 * closeness to a real credential can be timed. What remains is that a read that finds a document
 * takes longer (about 0.2-0.3 ms on FerretDB) than one that finds none. A fixed floor would not
 * do: too long wastes every refusal, too short hides nothing, and the right value differs between
 * databases and loads. Instead this remembers how long recent lookups took, accepted and refused,
 * in this process (a Lambda container), and holds each refusal back by the difference of their
 * medians. Refusals then take as long as acceptances on this very container, database and load.
 *
 * The wait yields with `setImmediate`, not `setTimeout`, whose 1 ms granularity is coarser than
 * the gap it fills; other requests go on meanwhile.
 */
export class RefusalTiming {
  private readonly acceptedTimes: RecentTimes;
  private readonly refusedTimes: RecentTimes;

  constructor(
    private readonly options: {
      /** How many recent lookups of each outcome to take the medians of. */
      readonly remember?: number;
      readonly now?: () => number;
    } = {},
  ) {
    this.acceptedTimes = new RecentTimes(options.remember ?? 64);
    this.refusedTimes = new RecentTimes(options.remember ?? 64);
  }

  private now(): number {
    return (this.options.now ?? (() => performance.now()))();
  }

  /** A timestamp to pass to {@link accepted} or {@link refused} once the lookup has ended. */
  start(): number {
    return this.now();
  }

  /** Remembers how long an accepted lookup that began at `startedAt` took. */
  accepted(startedAt: number): void {
    this.acceptedTimes.add(this.now() - startedAt);
  }

  /**
   * Remembers how long a refused lookup that began at `startedAt` took, then resolves once it has
   * been held back by how much longer acceptances take (at once while either is unknown).
   */
  async refused(startedAt: number): Promise<void> {
    const took = this.now() - startedAt;
    this.refusedTimes.add(took);
    const gap = this.acceptedTimes.median() - this.refusedTimes.median();
    if (!(gap > 0)) return;
    const until = startedAt + took + gap;
    while (this.now() < until) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The last `capacity` durations, oldest replaced first. */
class RecentTimes {
  private readonly times: number[] = [];
  private nextSlot = 0;

  constructor(private readonly capacity: number) {}

  add(ms: number): void {
    if (this.times.length < this.capacity) this.times.push(ms);
    else this.times[this.nextSlot] = ms;
    this.nextSlot = (this.nextSlot + 1) % this.capacity;
  }

  /** NaN while empty. */
  median(): number {
    if (this.times.length === 0) return Number.NaN;
    const sorted = [...this.times].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }
}
