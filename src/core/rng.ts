/**
 * Seeded random numbers. xoshiro128** (Blackman & Vigna) seeded through splitmix32: small state,
 * fast in JS 32-bit integer arithmetic, and identical output on every platform, so the same seed
 * gives the same bytes. Every random draw in nanoroi goes through an Rng made from an explicit seed.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  constructor(seed: number | string) {
    let s = typeof seed === 'string' ? hashString(seed) : seed >>> 0;
    const next = (): number => {
      // splitmix32
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Standard normal (Marsaglia polar method). */
  normal(mean = 0, sd = 1): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return mean + sd * v;
    }
    let u: number, v: number, s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * m;
    return mean + sd * u * m;
  }

  /** Log-normal with the given median and geometric standard deviation (σg ≥ 1). */
  logNormal(median: number, sigmaG: number): number {
    return median * Math.exp(Math.log(sigmaG) * this.normal());
  }

  /**
   * Poisson deviate. Knuth's product method for small means, PTRS (Hörmann 1993, transformed
   * rejection) for large ones: exact in distribution, O(1) expected time.
   */
  poisson(mean: number): number {
    if (!(mean > 0)) return 0;
    if (mean < 12) {
      const L = Math.exp(-mean);
      let k = 0;
      let p = this.next();
      while (p > L) {
        k++;
        p *= this.next();
      }
      return k;
    }
    const slam = Math.sqrt(mean);
    const loglam = Math.log(mean);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const U = this.next() - 0.5;
      const V = this.next();
      const us = 0.5 - Math.abs(U);
      const k = Math.floor(((2 * a) / us + b) * U + mean + 0.43);
      if (us >= 0.07 && V <= vr) return k;
      if (k < 0 || (us < 0.013 && V > us)) continue;
      if (
        Math.log(V) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
        -mean + k * loglam - logFactorial(k)
      )
        return k;
    }
  }

  /** A uniformly random unit vector in 3D. */
  unitVector(): { x: number; y: number; z: number } {
    const z = 2 * this.next() - 1;
    const phi = 2 * Math.PI * this.next();
    const r = Math.sqrt(1 - z * z);
    return { x: r * Math.cos(phi), y: r * Math.sin(phi), z };
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** A child generator with an independent stream, derived deterministically. */
  fork(label: string | number): Rng {
    return new Rng((this.nextU32() ^ hashString(String(label))) >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** FNV-1a 32-bit hash of a string, for string seeds and stream labels. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const LOG_FACT_TABLE: number[] = (() => {
  const t = [0];
  for (let i = 1; i < 256; i++) t.push(t[i - 1] + Math.log(i));
  return t;
})();

function logFactorial(k: number): number {
  if (k < 256) return LOG_FACT_TABLE[k];
  // Stirling series
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x * x * x);
}
