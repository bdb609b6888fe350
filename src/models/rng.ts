// A small seeded PRNG (mulberry32): the same seed gives the same weights on every machine.

export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** n values uniform with mean 0 and the given standard deviation (fast enough for 100M weights). */
  uniformArray(n: number, std: number): Float32Array {
    const a = new Float32Array(n);
    const w = (2 * Math.sqrt(3) * std) / 4294967296;
    // mulberry32 inlined on a local copy of the state: this loop writes GPT-2-small's weights
    let s = this.state;
    for (let i = 0; i < n; i++) {
      let t = (s = (s + 0x6d2b79f5) | 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      a[i] = ((t ^ (t >>> 14)) >>> 0) * w - 0.5 * w * 4294967296;
    }
    this.state = s >>> 0;
    return a;
  }
}
