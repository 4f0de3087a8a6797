import { RefusalTiming } from '../../lib/security/refusal-timing';

/** A clock the test moves by hand. */
function manualClock() {
  let time = 0;
  return {
    now: () => time,
    advance: (ms: number) => {
      time += ms;
    },
  };
}

type Clock = ReturnType<typeof manualClock>;

function accept(timing: RefusalTiming, clock: Clock, took: number): void {
  const started = timing.start();
  clock.advance(took);
  timing.accepted(started);
}

/**
 * A refused lookup whose read took `took` ms; the clock then moves 0.01 ms per turn of the event
 * loop until the refusal resolves. Returns how long the whole refusal took.
 */
async function refuse(timing: RefusalTiming, clock: Clock, took: number): Promise<number> {
  const started = timing.start();
  clock.advance(took);
  let finished: number | undefined;
  void timing.refused(started).then(() => {
    finished = clock.now() - started;
  });
  for (let turns = 0; finished === undefined && turns < 10_000; turns += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    if (finished === undefined) clock.advance(0.01);
  }
  return finished!;
}

describe('RefusalTiming', () => {
  it('refuses at once while no credential has been accepted (there is nothing to match)', async () => {
    const clock = manualClock();
    const timing = new RefusalTiming({ now: clock.now });
    expect(await refuse(timing, clock, 1.7)).toBeCloseTo(1.7, 6);
  });

  it('holds a refusal back by how much longer the median acceptance takes than the median refusal', async () => {
    const clock = manualClock();
    const timing = new RefusalTiming({ now: clock.now });
    for (const took of [2.2, 2.3, 2.4]) accept(timing, clock, took);
    // The first refusal's own read is the refused median: 2.0, so it is held back by 0.3.
    expect(await refuse(timing, clock, 2.0)).toBeCloseTo(2.3, 1);
    // Refused reads so far: 2.0, 1.9, so the median is 2.0 (the upper of two) and the gap 0.3.
    expect(await refuse(timing, clock, 1.9)).toBeCloseTo(2.2, 1);
  });

  it('never holds back a refusal when refusals already take as long as acceptances', async () => {
    const clock = manualClock();
    const timing = new RefusalTiming({ now: clock.now });
    accept(timing, clock, 1);
    expect(await refuse(timing, clock, 5)).toBeCloseTo(5, 6);
  });

  it('takes the medians of the most recent lookups only, replacing the oldest', async () => {
    const clock = manualClock();
    const timing = new RefusalTiming({ now: clock.now, remember: 2 });
    for (const took of [10, 3, 3]) accept(timing, clock, took);
    // The 10 has been replaced: the accepted median is 3, equal to this refusal's read.
    expect(await refuse(timing, clock, 3)).toBeCloseTo(3, 6);
  });
});
