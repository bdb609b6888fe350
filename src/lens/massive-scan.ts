/**
 * Massive activations (Sun et al. 2024, "Massive Activations in Large Language Models"): a few
 * residual-stream values thousands of times larger than the median, on a few tokens (usually the
 * first) and fixed channels, which attention heads use as a sink. As the paper measures: per layer
 * the top-1/2/3 and median |value| of the layer's output; the flagged entries; the token x channel
 * magnitudes of one text (its 3-D view); and here also the attention each head gives the flagged
 * tokens.
 */
import { BadArgumentError, checkIndex, type HookFn, type Model } from "../engine";
import { encodeTensor, VIEW_VALUE_CAP, type EncodedTensor, type MassiveEntry, type MassiveView } from "../protocol";
import { tokenizePrompts, type Prompts } from "./inputs";
import { chunks, keepChannels, layerStats, type LayerStats } from "./massive-stats";
import { LensResult } from "./result";
import { markdownTable } from "./text";

export type ResidHook = "resid_post" | "resid_pre";

export interface ScanOptions {
  /** which residual stream to measure: blocks.L.hook_resid_post (default; the paper's layer output) or hook_resid_pre */
  hook?: ResidHook;
  /** flag values at least this many times the layer's median |value| (default 100) */
  ratio?: number;
  /**
   * ...and at least this large in absolute terms. Default: max(1, 10 x the median of the layers'
   * medians), so a layer whose median is near zero does not flag every value it has. The paper's
   * own criterion for 7B models is `minAbs: 100` with a ratio of about 1000.
   */
  minAbs?: number;
  /** the layer whose top-1 picks the text of the magnitudes view (default: the layer with the largest top-1) */
  layer?: number;
  /** the text whose magnitudes the view shows (default: the one holding `layer`'s top-1) */
  text?: number;
}

// Cached residual values per runBatch call: bounds the memory one call holds besides the kept values.
const CHUNK_VALUES = 1 << 24;
// The payload lists at most this many entries (the largest); `flagged` keeps them all.
const PAYLOAD_ENTRIES = 2000;

const HOOKS: readonly ResidHook[] = ["resid_post", "resid_pre"];

/**
 * Measures every layer's residual stream over `texts` (statistics pooled over all their tokens) and
 * flags the massive entries. Holds one float per measured value (layers x tokens x d_model) until the
 * medians are known: exact medians need them all.
 */
export async function scan(model: Model, texts: Prompts, options: ScanOptions = {}): Promise<MassiveScan> {
  const { nLayers: L, dModel: D, nHeads: H } = model.config;
  const hook = options.hook ?? "resid_post";
  if (!HOOKS.includes(hook)) throw new BadArgumentError(`hook must be "resid_post" or "resid_pre", got ${JSON.stringify(options.hook)}.`);
  const ratio = options.ratio ?? 100;
  if (typeof ratio !== "number" || !(ratio > 0) || !Number.isFinite(ratio)) throw new BadArgumentError(`ratio must be a positive number (times the layer's median |value|), got ${String(options.ratio)}.`);
  if (options.minAbs !== undefined && (typeof options.minAbs !== "number" || !(options.minAbs >= 0) || !Number.isFinite(options.minAbs))) {
    throw new BadArgumentError(`minAbs must be a number >= 0 (the smallest |value| to flag), got ${String(options.minAbs)}.`);
  }
  if (options.layer !== undefined) checkIndex("layer", options.layer, L, `the model has ${L} layers`);
  const prompts = tokenizePrompts(model, texts, "texts");
  if (options.text !== undefined) checkIndex("text", options.text, prompts.length, `${prompts.length} text${prompts.length === 1 ? " was" : "s were"} given`);

  const names = Array.from({ length: L }, (_, l) => `blocks.${l}.hook_${hook}`);
  const offsets: number[] = [];
  let total = 0;
  for (const p of prompts) {
    offsets.push(total);
    total += p.tokens.length;
  }
  // values[l]: every text's [pos, d_model] rows of layer l, texts one after another.
  const values = Array.from({ length: L }, () => new Float32Array(total * D));
  // attentionToKey[t][(l * H + h) * n + k]: the pattern on key k summed over the queries after it.
  const attentionToKey = prompts.map((p) => new Float64Array(L * H * p.tokens.length));

  for (const chunk of chunks(prompts.map((p) => p.tokens.length * D * L), CHUNK_VALUES)) {
    const results = await model.runBatch(
      chunk.map((t) => ({ input: prompts[t].tokens, logits: "last" as const, names, hooks: patternHooks(L, H, prompts[t].tokens.length, attentionToKey[t]) })),
    );
    results.forEach((r, i) => {
      const t = chunk[i];
      names.forEach((name, l) => values[l].set(r.cache.get(name).data, offsets[t] * D));
    });
  }

  const stats = values.map(layerStats);
  const medians = stats.map((s) => s.median);
  const minAbs = options.minAbs ?? Math.max(1, 10 * [...medians].sort((a, b) => a - b)[(L - 1) >> 1]);
  const tokenStrs = prompts.map((p) => model.toStr(p.tokens));

  const flagged: MassiveEntry[] = [];
  for (let l = 0; l < L; l++) {
    const threshold = Math.max(ratio * medians[l], minAbs);
    const v = values[l];
    prompts.forEach((p, t) => {
      for (let pos = 0; pos < p.tokens.length; pos++) {
        const row = (offsets[t] + pos) * D;
        for (let d = 0; d < D; d++) {
          const x = v[row + d];
          if (Math.abs(x) >= threshold) flagged.push({ layer: l, text: t, pos, token: tokenStrs[t][pos], dim: d, value: x, ratio: Math.abs(x) / medians[l] });
        }
      }
    });
  }

  const viewLayer = options.layer ?? stats.reduce((best, s, l) => (s.top1 > stats[best].top1 ? l : best), 0);
  const viewText = options.text ?? textOfLargest(values[viewLayer], offsets, total, D);
  const magnitudes = magnitudesOf(values, offsets[viewText], prompts[viewText].tokens.length, D, flagged);

  return new MassiveScan({
    hook,
    ratio,
    minAbs,
    textCount: prompts.length,
    tokenCount: total,
    stats,
    flagged,
    sink: sinkShares(flagged, attentionToKey, prompts.map((p) => p.tokens.length), L, H),
    heads: H,
    magnitudes: { text: viewText, tokens: tokenStrs[viewText], ...magnitudes },
  });
}


/**
 * Observing hooks on every layer's pattern that add each query's attention to every earlier key:
 * the [layer, head, key] sums are all the sink needs, where caching the patterns would hold
 * [layer, head, pos, pos] per text.
 */
function patternHooks(L: number, H: number, n: number, sums: Float64Array): Record<string, HookFn> {
  const hooks: Record<string, HookFn> = {};
  for (let l = 0; l < L; l++) {
    hooks[`blocks.${l}.attn.hook_pattern`] = (t, ctx) => {
      const [, q, K] = t.shape;
      for (let h = 0; h < H; h++) {
        const base = (l * H + h) * n;
        for (let i = 0; i < q; i++) {
          const p = ctx.positions[i];
          const row = (h * q + i) * K;
          for (let k = 0; k < p; k++) sums[base + k] += t.data[row + k];
        }
      }
    };
  }
  return hooks;
}

/**
 * Attention each head gives the flagged tokens, [layer, head]: over every text with flagged
 * positions F (at any layer), the attention of each query after the first of them on the flagged
 * keys before it, averaged over those queries. Undefined when no query comes after a flagged token.
 */
function sinkShares(flagged: readonly MassiveEntry[], sums: readonly Float64Array[], lengths: readonly number[], L: number, H: number): Float32Array | undefined {
  const positions = lengths.map(() => new Set<number>());
  for (const e of flagged) positions[e.text].add(e.pos);
  const out = new Float64Array(L * H);
  let queries = 0;
  positions.forEach((set, t) => {
    if (!set.size) return;
    const n = lengths[t];
    queries += n - 1 - Math.min(...set);
    for (let lh = 0; lh < L * H; lh++) for (const k of set) out[lh] += sums[t][lh * n + k];
  });
  return queries > 0 ? Float32Array.from(out, (x) => x / queries) : undefined;
}

function textOfLargest(v: Float32Array, offsets: readonly number[], total: number, D: number): number {
  let best = 0;
  for (let i = 1; i < total * D; i++) if (Math.abs(v[i]) > Math.abs(v[best])) best = i;
  const row = Math.floor(best / D);
  let t = 0;
  while (t + 1 < offsets.length && offsets[t + 1] <= row) t++;
  return t;
}

/** |values| of one text as [layer, pos, channel], channels reduced to stay under the view cap. */
function magnitudesOf(values: readonly Float32Array[], offset: number, n: number, D: number, flagged: readonly MassiveEntry[]): { channels: number[]; values: EncodedTensor; reduced?: string } {
  const L = values.length;
  const score = new Float32Array(D);
  for (const v of values) for (let i = 0; i < n * D; i++) score[i % D] = Math.max(score[i % D], Math.abs(v[offset * D + i]));
  const channels = keepChannels(score, flagged.map((e) => e.dim), L * n, VIEW_VALUE_CAP);
  const out = new Float32Array(L * n * channels.length);
  values.forEach((v, l) => {
    for (let p = 0; p < n; p++) channels.forEach((c, j) => (out[(l * n + p) * channels.length + j] = Math.abs(v[(offset + p) * D + c])));
  });
  const reduced =
    channels.length < D
      ? `${channels.length} of ${D} channels kept (the flagged dims and those with the largest |value| in this text) to stay under ${VIEW_VALUE_CAP} values`
      : undefined;
  return { channels, values: encodeTensor([L, n, channels.length], out), reduced };
}

interface ScanData {
  hook: ResidHook;
  ratio: number;
  minAbs: number;
  textCount: number;
  tokenCount: number;
  stats: LayerStats[];
  flagged: MassiveEntry[];
  sink: Float32Array | undefined;
  heads: number;
  magnitudes: { text: number; tokens: string[]; channels: number[]; values: EncodedTensor; reduced?: string };
}

const byMagnitude = (a: MassiveEntry, b: MassiveEntry) => Math.abs(b.value) - Math.abs(a.value) || a.layer - b.layer || a.text - b.text || a.pos - b.pos || a.dim - b.dim;

export class MassiveScan extends LensResult<"massive"> {
  readonly view = "massive" as const;
  /** the residual stream measured: blocks.L.hook_{hook} */
  readonly hook: ResidHook;
  readonly ratio: number;
  readonly minAbs: number;
  readonly top1: number[];
  readonly top2: number[];
  readonly top3: number[];
  readonly median: number[];
  /** every flagged entry, by layer, text, position and dim */
  readonly flagged: readonly MassiveEntry[];
  /** attention each head gives the flagged tokens, row-major [layer, head]; undefined when nothing is flagged */
  readonly sink: Float32Array | undefined;
  private readonly data: ScanData;

  constructor(data: ScanData) {
    super();
    this.data = data;
    this.hook = data.hook;
    this.ratio = data.ratio;
    this.minAbs = data.minAbs;
    this.top1 = data.stats.map((s) => s.top1);
    this.top2 = data.stats.map((s) => s.top2);
    this.top3 = data.stats.map((s) => s.top3);
    this.median = data.stats.map((s) => s.median);
    this.flagged = data.flagged;
    this.sink = data.sink;
  }

  /** The distinct flagged dims, ascending. */
  get dims(): number[] {
    return [...new Set(this.flagged.map((e) => e.dim))].sort((a, b) => a - b);
  }

  /** The k flagged entries of largest |value| (ties: earlier layer first). */
  top(k = 10): MassiveEntry[] {
    return [...this.flagged].sort(byMagnitude).slice(0, Math.max(0, k));
  }

  /** The sink share of head `head` of layer `layer`, or undefined when nothing is flagged. */
  sinkOf(layer: number, head: number): number | undefined {
    return this.sink?.[layer * this.data.heads + head];
  }

  payload(): MassiveView {
    const { magnitudes: m } = this.data;
    const listed = this.flagged.length > PAYLOAD_ENTRIES ? this.top(PAYLOAD_ENTRIES) : this.flagged;
    const reduced = [
      m.reduced,
      listed.length < this.flagged.length ? `${listed.length} of ${this.flagged.length} flagged entries listed (the largest)` : undefined,
    ].filter(Boolean);
    return {
      title: `Massive activations at hook_${this.hook}, ${this.data.textCount} text${this.data.textCount === 1 ? "" : "s"}`,
      ...(reduced.length ? { reduced: reduced.join("; ") } : {}),
      hook: `hook_${this.hook}`,
      top1: this.top1,
      top2: this.top2,
      top3: this.top3,
      median: this.median,
      flagged: [...listed],
      magnitudes: { text: m.text, tokens: m.tokens, channels: m.channels, values: m.values },
      ...(this.sink ? { sink: encodeTensor([this.top1.length, this.data.heads], this.sink) } : {}),
    };
  }

  markdown(): string {
    const f = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));
    const counts = this.top1.map((_, l) => this.flagged.filter((e) => e.layer === l).length);
    const lines = [
      `**Massive activations** at \`blocks.L.hook_${this.hook}\` over ${this.data.textCount} text${this.data.textCount === 1 ? "" : "s"} (${this.data.tokenCount} tokens). ` +
        `Flagged: |value| >= ${this.ratio} x the layer's median |value| and >= ${f(this.minAbs)}.`,
      "",
      "| layer | top-1 | top-2 | top-3 | median | top-1 / median | flagged |",
      "|---|---|---|---|---|---|---|",
      ...this.top1.map((t, l) => `| ${l} | ${f(t)} | ${f(this.top2[l])} | ${f(this.top3[l])} | ${f(this.median[l])} | ${times(t / this.median[l])} | ${counts[l]} |`),
    ];
    if (!this.flagged.length) return [...lines, "", "Nothing flagged."].join("\n");
    const shown = 20;
    // Token strings go through markdownTable, which escapes the pipes a token may hold.
    const rows = this.flagged.slice(0, shown).map((e) => [String(e.layer), String(e.text), String(e.pos), JSON.stringify(e.token), String(e.dim), f(e.value), times(e.ratio)]);
    lines.push("", markdownTable(["layer", "text", "pos", "token", "dim", "value", "x median"], rows));
    if (this.flagged.length > shown) lines.push("", `... and ${this.flagged.length - shown} more (\`.flagged\` has them all).`);
    return lines.join("\n");
  }

  summary(): string {
    const top = this.top(1)[0];
    if (!top) {
      const l = this.top1.reduce((best, t, i) => (t > this.top1[best] ? i : best), 0);
      return `massive: none flagged (largest ${this.top1[l].toPrecision(3)} at layer ${l}, ${times(this.top1[l] / this.median[l])} median; needs ${this.ratio}x and >= ${this.minAbs.toPrecision(3)})`;
    }
    // Where that value first appears: its earliest flagged layer, with the ratio there.
    const first = this.flagged.find((e) => e.text === top.text && e.pos === top.pos && e.dim === top.dim)!;
    const dims = this.dims;
    return (
      `massive: ${this.flagged.length} entr${this.flagged.length === 1 ? "y" : "ies"}${dims.length > 1 ? ` in ${dims.length} dims` : ""}, ` +
      `dim ${top.dim} on token ${top.pos} (${JSON.stringify(top.token)}) from layer ${first.layer}, ${times(first.ratio)} median`
    );
  }
}

/** "3645x"; a layer whose median is 0 gives an infinite ratio. */
function times(r: number): string {
  return Number.isFinite(r) ? `${Math.round(r)}x` : "infinite x";
}
