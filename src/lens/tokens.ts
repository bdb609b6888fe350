/** Token probabilities for displays: the top tokens of a logits row, with their strings. */
import type { Model } from "../engine";
import type { TokenProb } from "../protocol";
import { logSoftmax } from "./metrics";

/** The k most probable next tokens of one logits row. */
export function topTokens(model: Model, logits: Float32Array, k = 5): TokenProb[] {
  const lp = logSoftmax(logits);
  const idx: number[] = [];
  for (let v = 0; v < lp.length; v++) {
    if (idx.length < k) {
      idx.push(v);
      idx.sort((a, b) => lp[b] - lp[a]);
    } else if (lp[v] > lp[idx[k - 1]]) {
      idx[k - 1] = v;
      idx.sort((a, b) => lp[b] - lp[a]);
    }
  }
  const strs = model.toStr(idx);
  return idx.map((id, i) => ({ token: strs[i], id, prob: Math.exp(lp[id]) }));
}
