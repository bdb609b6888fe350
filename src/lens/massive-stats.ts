/**
 * The numbers behind the massive-activations scan, on plain arrays: a layer's largest and median
 * magnitudes (as Sun et al. 2024 plot them), which channels of a [layer, pos, channel] block to
 * keep when it would exceed a view's value cap, and how to split texts into runs of bounded memory.
 */

export interface LayerStats {
  top1: number;
  top2: number;
  top3: number;
  /** the lower middle value of the sorted magnitudes for an even count, as torch.median gives */
  median: number;
}

/** The three largest |x| and the median |x| of `values` (non-empty). */
export function layerStats(values: Float32Array): LayerStats {
  if (values.length === 0) throw new RangeError("layerStats: no values.");
  let a = 0;
  let b = 0;
  let c = 0;
  const abs = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]);
    abs[i] = v;
    if (v > a) [a, b, c] = [v, a, b];
    else if (v > b) [b, c] = [v, b];
    else if (v > c) c = v;
  }
  return { top1: a, top2: b, top3: c, median: kthSmallest(abs, (abs.length - 1) >> 1) };
}

/** The k-th smallest value (0-based) of `a`, reordering `a` in place: quickselect, O(n) on average. */
function kthSmallest(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    // Median of three as the pivot keeps sorted or constant runs from going quadratic.
    const mid = (lo + hi) >> 1;
    const pivot = Math.max(Math.min(a[lo], a[mid]), Math.min(Math.max(a[lo], a[mid]), a[hi]));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * Channels of a [layers, positions, channels] block of magnitudes to keep so that at most `cap`
 * values remain: `required` first (the flagged dims, largest `score` first if even they are too
 * many), then the channels with the largest score. Ascending channel order; all channels when the
 * block fits. At least one channel is kept.
 */
export function keepChannels(score: Float32Array, required: readonly number[], rowsPerChannel: number, cap: number): number[] {
  const n = score.length;
  const room = Math.max(1, Math.floor(cap / Math.max(1, rowsPerChannel)));
  if (n <= room) return Array.from({ length: n }, (_, i) => i);
  const byScore = (x: number, y: number) => score[y] - score[x] || x - y;
  const must = [...new Set(required)].filter((c) => c >= 0 && c < n).sort(byScore).slice(0, room);
  const chosen = new Set(must);
  const rest = Array.from({ length: n }, (_, i) => i).filter((c) => !chosen.has(c)).sort(byScore);
  for (const c of rest) {
    if (chosen.size >= room) break;
    chosen.add(c);
  }
  return [...chosen].sort((x, y) => x - y);
}

/** Consecutive index groups whose costs sum to at most `budget` (an item alone may exceed it): runBatch calls of bounded memory. */
export function chunks(costs: readonly number[], budget: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let used = 0;
  costs.forEach((c, i) => {
    if (cur.length && used + c > budget) {
      out.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(i);
    used += c;
  });
  if (cur.length) out.push(cur);
  return out;
}
