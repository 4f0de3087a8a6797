import { randomFillSync } from 'node:crypto';

/**
 * Where Gaussian noise comes from. Central DP is only as good as its randomness: the service uses
 * the operating system's cryptographically secure source (`cryptoGaussian`); a seeded source is
 * for tests alone, where a result must be reproducible.
 */
export interface GaussianSource {
  /** target[j] += N(0, std²), independently for each j. */
  addNoise(target: Float64Array, std: number): void;
}

/** Uniform doubles in (0, 1] from 53 random bits each, by Box–Muller into normal pairs. */
function boxMuller(nextUniforms: (count: number) => Float64Array): GaussianSource {
  return {
    addNoise(target, std) {
      if (std === 0) return;
      const chunk = 1 << 15;
      for (let start = 0; start < target.length; start += chunk) {
        const length = Math.min(chunk, target.length - start);
        const u = nextUniforms(length + (length % 2));
        for (let j = 0; j < length; j += 2) {
          const radius = Math.sqrt(-2 * Math.log(u[j]!));
          const angle = 2 * Math.PI * u[j + 1]!;
          target[start + j]! += std * radius * Math.cos(angle);
          if (j + 1 < length) target[start + j + 1]! += std * radius * Math.sin(angle);
        }
      }
    },
  };
}

function uniformsFromWords(words: Uint32Array, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 1) {
    const high = words[2 * i]! >>> 5; // 27 bits
    const low = words[2 * i + 1]! >>> 6; // 26 bits
    // (k + 1) / 2^53 for k in [0, 2^53): never 0, so log(u) is finite.
    out[i] = (high * 67108864 + low + 1) / 9007199254740992;
  }
  return out;
}

/** Noise from node:crypto's CSPRNG: the service's only source. */
export const cryptoGaussian: GaussianSource = boxMuller((count) => uniformsFromWords(randomFillSync(new Uint32Array(2 * count)), count));

/** A reproducible source (mulberry32 from a 32-bit seed). For tests only: predictable noise is no privacy. */
export function seededGaussian(seed: number): GaussianSource {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return boxMuller((count) => {
    const words = new Uint32Array(2 * count);
    for (let i = 0; i < words.length; i += 1) words[i] = next();
    return uniformsFromWords(words, count);
  });
}
