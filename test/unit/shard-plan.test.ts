import {
  DEFAULT_SHARD_LIMITS,
  planShards,
  S3_MIN_PART_BYTES,
  shardEdges,
  SUM_CHUNK_VALUES,
  workingSetBytes,
  type ShardPlanInput,
} from '../../lib/aggregation/shard-plan';

const MEAN = { family: 'mean', twoPass: false, needsBase: false, optimizerMoments: 0 } as const;

function round(updates: number, values: number, bytesPerValue = 4, layerSizes: number[] = [values]): ShardPlanInput {
  return { updates, values, readBytes: updates * values * bytesPerValue, maxUpdateBytes: values * bytesPerValue, layerSizes, strategy: MEAN };
}

function expectCover(shards: readonly { start: number; end: number }[], values: number): void {
  expect(shards[0]!.start).toBe(0);
  expect(shards.at(-1)!.end).toBe(values);
  for (let i = 1; i < shards.length; i += 1) expect(shards[i]!.start).toBe(shards[i - 1]!.end);
  for (const shard of shards) expect(shard.end).toBeGreaterThan(shard.start);
}

describe('planShards', () => {
  it('keeps a round of 100 × 1M float32 in one task', () => {
    expect(planShards(round(100, 1_000_000), DEFAULT_SHARD_LIMITS)).toMatchObject({ mode: 'single' });
  });

  it('splits 1,000 × 100M float32 (400 GB) into shards that each read at most 4 GiB', () => {
    const input = round(1_000, 100_000_000);
    const plan = planShards(input, DEFAULT_SHARD_LIMITS);
    expect(plan.mode).toBe('sharded');
    if (plan.mode !== 'sharded') return;
    // 400e9 bytes / 4 GiB = 93.1 → 94 shards.
    expect(plan.shards).toHaveLength(94);
    expect(plan.passes).toBe(1);
    expectCover(plan.shards, input.values);
    for (const shard of plan.shards) {
      expect(((shard.end - shard.start) / input.values) * input.readBytes).toBeLessThanOrEqual(DEFAULT_SHARD_LIMITS.shardMaxReadBytes * 1.001);
      expect(workingSetBytes(input, shard.end - shard.start)).toBeLessThanOrEqual(DEFAULT_SHARD_LIMITS.taskMemoryBytes);
    }
    expect(plan.reason).toContain('to read');
  });

  it('shards for memory alone when the model is too large for one task but the read is small', () => {
    const input = round(2, 200_000_000, 8);
    expect(workingSetBytes(input, input.values)).toBeGreaterThan(DEFAULT_SHARD_LIMITS.taskMemoryBytes);
    const plan = planShards(input, DEFAULT_SHARD_LIMITS);
    expect(plan).toMatchObject({ mode: 'sharded' });
    expect(plan.reason).toContain('MiB of memory');
    expect(plan.reason).not.toContain('to read');
  });

  it('never makes a part smaller than S3 allows, so a small model gets fewer shards than asked for', () => {
    const values = 3 * (S3_MIN_PART_BYTES / 8) + 10;
    const plan = planShards(round(10, values), { ...DEFAULT_SHARD_LIMITS, fixedShards: 7 });
    expect(plan.mode).toBe('sharded');
    if (plan.mode !== 'sharded') return;
    expect(plan.shards).toHaveLength(3);
    for (const shard of plan.shards.slice(0, -1)) expect((shard.end - shard.start) * 8).toBeGreaterThanOrEqual(S3_MIN_PART_BYTES);
  });

  it('takes a fixed K of 1 as one shard (the sharded path), and off as one task', () => {
    expect(planShards(round(3, 100), { ...DEFAULT_SHARD_LIMITS, minPartBytes: 8, fixedShards: 1 })).toMatchObject({
      mode: 'sharded',
      shards: [{ start: 0, end: 100 }],
    });
    expect(planShards(round(1_000, 100_000_000), { ...DEFAULT_SHARD_LIMITS, sharding: 'off' })).toMatchObject({ mode: 'single' });
  });

  it('gives clipping and Krum two passes and edges on the sum chunks', () => {
    const input = { ...round(5, 10_000), strategy: { ...MEAN, twoPass: true, needsBase: true } };
    const plan = planShards(input, { ...DEFAULT_SHARD_LIMITS, minPartBytes: 8, fixedShards: 7 });
    expect(plan.mode).toBe('sharded');
    if (plan.mode !== 'sharded') return;
    expect(plan.passes).toBe(2);
    expect(plan.shards).toHaveLength(7);
    expectCover(plan.shards, 10_000);
    for (const shard of plan.shards.slice(1)) expect(shard.start % SUM_CHUNK_VALUES).toBe(0);
  });

  it('leaves room for an optimizer state of two parts per shard', () => {
    const input = { ...round(10, 10_000), strategy: { family: 'optimizer', twoPass: false, needsBase: true, optimizerMoments: 2 } as const };
    const plan = planShards(input, { ...DEFAULT_SHARD_LIMITS, maxShards: 100_000, minPartBytes: 8, fixedShards: 20_000 });
    expect(plan.mode === 'sharded' && plan.shards.length).toBe(5_000);
  });
});

describe('shardEdges', () => {
  it('moves an edge to a layer edge within a tenth of a shard', () => {
    // Two shards of 1,000 values; a layer ends at 1,040 (within 100 of 1,000).
    expect(shardEdges(2_000, 2, [1_040, 960], 1, 1)).toEqual([
      { start: 0, end: 1_040 },
      { start: 1_040, end: 2_000 },
    ]);
  });

  it('splits a layer when no layer edge is near', () => {
    expect(shardEdges(2_000, 2, [1_500, 500], 1, 1)).toEqual([
      { start: 0, end: 1_000 },
      { start: 1_000, end: 2_000 },
    ]);
  });

  it('covers the values exactly, with seven shards of a single layer', () => {
    const shards = shardEdges(1_003, 7, [1_003], 1, 1);
    expect(shards).toHaveLength(7);
    expectCover(shards, 1_003);
    expect(shards.map((shard) => shard.end - shard.start).every((length) => length === 143 || length === 144)).toBe(true);
  });
});
