/** Token probabilities for displays: the top tokens of a logits row, with their strings. */
import type { Model } from "../engine";
import type { TokenProb } from "../protocol";
import { logSoftmax } from "./metrics";

/** The k most probable next tokens of one logits row. */
export function topTokens(model: Model, logits: Float32Array, k = 5): TokenProb[] {
  const lp = logSoftmax(logits);
  const idx = topK(lp, k);
  const strs = model.toStr(idx);
  return idx.map((id, i) => ({ token: strs[i], id, prob: Math.exp(lp[id]) }));
}

/** Indices of the k largest values, largest first. */
export function topK(values: Float64Array, k: number): number[] {
  // Insertion keeps a small k cheap; a large one is a sort.
  if (k > 32) return Array.from(values.keys()).sort((a, b) => values[b] - values[a]).slice(0, k);
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (best.length === k && values[i] <= values[best[k - 1]]) continue;
    let j = Math.min(best.length, k - 1);
    best[j] = i;
    while (j > 0 && values[best[j - 1]] < values[i]) {
      best[j] = best[j - 1];
      best[--j] = i;
    }
  }
  return best;
}
