/** Next-token choice for generate(): greedy, or seeded sampling that is reproducible across runs. */
export interface SamplingOptions {
  /** 0 (default) = greedy */
  temperature?: number;
  /** keep only the k most likely tokens (0 = all) */
  topK?: number;
  /** keep the smallest set of tokens whose probability reaches p (1 = all) */
  topP?: number;
  seed?: number;
}

/** Uniform [0, 1) from mulberry32: small, fast, and the same sequence on every platform for a given seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export function sampler(options: SamplingOptions): (logits: Float32Array) => number {
  const temperature = options.temperature ?? 0;
  if (temperature <= 0) return argmax;
  const random = seededRandom(options.seed ?? 0);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  return (logits) => {
    let ids = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    if (topK > 0) ids = ids.slice(0, topK);
    const max = logits[ids[0]];
    let probs = ids.map((i) => Math.exp((logits[i] - max) / temperature));
    let sum = probs.reduce((a, b) => a + b, 0);
    if (topP < 1) {
      let acc = 0;
      let keep = 0;
      while (keep < probs.length && acc < topP * sum) acc += probs[keep++];
      ids = ids.slice(0, keep);
      probs = probs.slice(0, keep);
      sum = acc;
    }
    let r = random() * sum;
    for (let k = 0; k < ids.length; k++) {
      r -= probs[k];
      if (r <= 0) return ids[k];
    }
    return ids[ids.length - 1];
  };
}
