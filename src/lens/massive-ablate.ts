/**
 * The intervention of Sun et al. 2024 (their exp3, lib/hook.py): set the massive activations, where
 * they first appear, to zero or to their mean, and compare the language-modelling loss. Zeroing them
 * breaks a model that relies on them; setting them to their mean does not, which is the paper's
 * evidence that they act as fixed, input-independent biases.
 */
import { BadArgumentError, type HookFn, type Model } from "../engine";
import type { MassiveEntry } from "../protocol";
import { tokenizePrompts, type Prompts, type TokenizedPrompt } from "./inputs";
import { scan, MassiveScan, type ResidHook } from "./massive-scan";
import { chunks } from "./massive-stats";
import { logSoftmaxAt } from "./metrics";
import { markdownTable } from "./text";

export interface AblateOptions {
  /**
   * "zero" (default), or "mean": each value set to the mean of the ablated values of its dim at its
   * layer over the texts, as the paper's set_mean does (its means come from many sequences).
   */
  mode?: "zero" | "mean";
  /** what to ablate: a scan of these texts, or its flagged entries (default: scan the texts first) */
  entries?: MassiveScan | readonly MassiveEntry[];
  /** the residual stream the entries' layers refer to, when entries are a list (default resid_post) */
  hook?: ResidHook;
}

/** One value set by the ablation. */
export interface AblatedValue {
  /** the layer of blocks.L.hook_{hook} where it was set: the first layer where it was flagged */
  layer: number;
  text: number;
  pos: number;
  token: string;
  dim: number;
  /** the value as scanned, and what it was set to */
  from: number;
  to: number;
}

export interface TextLoss {
  text: number;
  tokens: number;
  /** mean next-token cross-entropy (nats) over the text's tokens, and its exponential */
  lossBefore: number;
  lossAfter: number;
  perplexityBefore: number;
  perplexityAfter: number;
}

// Logit values per runBatch call (two runs per text): bounds what one call holds.
const CHUNK_LOGITS = 1 << 24;

export async function ablate(model: Model, texts: Prompts, options: AblateOptions = {}): Promise<MassiveAblation> {
  const mode = options.mode ?? "zero";
  if (mode !== "zero" && mode !== "mean") throw new BadArgumentError(`mode must be "zero" or "mean", got ${JSON.stringify(options.mode)}.`);
  const prompts = tokenizePrompts(model, texts, "texts");
  prompts.forEach((p, i) => {
    if (p.tokens.length < 2) throw new BadArgumentError(`texts${prompts.length > 1 ? `[${i}]` : ""} is ${p.tokens.length} token long: the loss needs at least two tokens (one to predict from, one to predict).`);
  });
  let entries: readonly MassiveEntry[];
  let hook: ResidHook;
  if (options.entries === undefined || options.entries instanceof MassiveScan) {
    const s = options.entries ?? (await scan(model, texts));
    entries = s.flagged;
    hook = s.hook;
  } else if (Array.isArray(options.entries)) {
    entries = options.entries;
    hook = options.hook ?? "resid_post";
    if (hook !== "resid_post" && hook !== "resid_pre") throw new BadArgumentError(`hook must be "resid_post" or "resid_pre", got ${JSON.stringify(options.hook)}.`);
  } else {
    throw new BadArgumentError("entries must be a steer.massive.scan(...) result or its .flagged list.");
  }
  const values = ablatedValues(model, prompts, entries, mode);

  const hooks = prompts.map((_, t) => hooksFor(values.filter((v) => v.text === t), hook, model.config.dModel));
  const V = model.config.nVocab;
  const losses: { before: number; after: number }[] = [];
  for (const chunk of chunks(prompts.map((p) => 2 * p.tokens.length * V), CHUNK_LOGITS)) {
    const items = chunk.flatMap((t) => {
      const plain = { input: prompts[t].tokens, logits: "all" as const, names: [] };
      return hooks[t] ? [plain, { ...plain, hooks: hooks[t] }] : [plain];
    });
    const results = await model.runBatch(items);
    let i = 0;
    for (const t of chunk) {
      const before = meanLoss(results[i++].logits.data, prompts[t].tokens, V);
      losses[t] = { before, after: hooks[t] ? meanLoss(results[i++].logits.data, prompts[t].tokens, V) : before };
    }
  }

  const perText: TextLoss[] = prompts.map((p, t) => ({
    text: t,
    tokens: p.tokens.length,
    lossBefore: losses[t].before,
    lossAfter: losses[t].after,
    perplexityBefore: Math.exp(losses[t].before),
    perplexityAfter: Math.exp(losses[t].after),
  }));
  return new MassiveAblation(mode, hook, values, perText);
}

/**
 * The values to set: one per (text, pos, dim), at the first layer where it was flagged, checked
 * against these texts so entries from a scan of other texts fail loudly.
 */
function ablatedValues(model: Model, prompts: readonly TokenizedPrompt[], entries: readonly MassiveEntry[], mode: "zero" | "mean"): AblatedValue[] {
  const { nLayers, dModel } = model.config;
  const strs = prompts.map((p) => model.toStr(p.tokens));
  const first = new Map<string, MassiveEntry>();
  entries.forEach((e, i) => {
    const bad = (why: string) => new BadArgumentError(`entries[${i}] ${why}: pass the flagged entries of a scan of these same texts.`);
    if (!e || typeof e !== "object") throw bad("is not a flagged entry");
    if (!Number.isInteger(e.text) || e.text < 0 || e.text >= prompts.length) throw bad(`names text ${e.text}, but ${prompts.length} text${prompts.length === 1 ? " was" : "s were"} given`);
    if (!Number.isInteger(e.pos) || e.pos < 0 || e.pos >= strs[e.text].length) throw bad(`names position ${e.pos}, but text ${e.text} has ${strs[e.text].length} tokens`);
    if (!Number.isInteger(e.layer) || e.layer < 0 || e.layer >= nLayers) throw bad(`names layer ${e.layer}, but the model has ${nLayers} layers`);
    if (!Number.isInteger(e.dim) || e.dim < 0 || e.dim >= dModel) throw bad(`names dim ${e.dim}, but d_model is ${dModel}`);
    if (typeof e.value !== "number") throw bad("has no numeric value");
    if (typeof e.token === "string" && e.token !== strs[e.text][e.pos]) {
      throw bad(`was found on token ${JSON.stringify(e.token)}, but text ${e.text} has ${JSON.stringify(strs[e.text][e.pos])} at position ${e.pos}`);
    }
    const key = `${e.text}:${e.pos}:${e.dim}`;
    const seen = first.get(key);
    if (!seen || e.layer < seen.layer) first.set(key, e);
  });
  const chosen = [...first.values()];
  const groups = new Map<string, number[]>();
  for (const e of chosen) {
    const g = `${e.layer}:${e.dim}`;
    groups.set(g, [...(groups.get(g) ?? []), e.value]);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return chosen
    .map((e) => ({ layer: e.layer, text: e.text, pos: e.pos, token: strs[e.text][e.pos], dim: e.dim, from: e.value, to: mode === "zero" ? 0 : mean(groups.get(`${e.layer}:${e.dim}`)!) }))
    .sort((a, b) => a.text - b.text || a.layer - b.layer || a.pos - b.pos || a.dim - b.dim);
}

/** Hooks setting one text's values in place; undefined when the text has none. */
function hooksFor(values: readonly AblatedValue[], hook: ResidHook, D: number): Record<string, HookFn> | undefined {
  if (!values.length) return undefined;
  const hooks: Record<string, HookFn> = {};
  for (const layer of new Set(values.map((v) => v.layer))) {
    const here = values.filter((v) => v.layer === layer);
    hooks[`blocks.${layer}.hook_${hook}`] = (t, ctx) => {
      ctx.positions.forEach((p, row) => {
        for (const v of here) if (v.pos === p) t.data[row * D + v.dim] = v.to;
      });
    };
  }
  return hooks;
}

/** Mean next-token cross-entropy of [pos, vocab] logits against the tokens that follow. */
function meanLoss(logits: Float32Array, tokens: readonly number[], V: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < tokens.length; i++) sum -= logSoftmaxAt(logits.subarray(i * V, (i + 1) * V), tokens[i + 1]);
  return sum / (tokens.length - 1);
}

const fmt = (x: number) => (Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(3));

/** Loss and perplexity before and after setting the massive activations; displays as markdown. */
export class MassiveAblation {
  /** token-weighted over all texts, as the paper's perplexity: total cross-entropy / predicted tokens */
  readonly lossBefore: number;
  readonly lossAfter: number;
  readonly perplexityBefore: number;
  readonly perplexityAfter: number;

  constructor(
    readonly mode: "zero" | "mean",
    /** the residual stream the values were set in: blocks.L.hook_{hook} */
    readonly hook: ResidHook,
    readonly values: readonly AblatedValue[],
    readonly perText: readonly TextLoss[],
  ) {
    const n = perText.reduce((a, t) => a + t.tokens - 1, 0);
    this.lossBefore = perText.reduce((a, t) => a + t.lossBefore * (t.tokens - 1), 0) / n;
    this.lossAfter = perText.reduce((a, t) => a + t.lossAfter * (t.tokens - 1), 0) / n;
    this.perplexityBefore = Math.exp(this.lossBefore);
    this.perplexityAfter = Math.exp(this.lossAfter);
  }

  toJSON() {
    const { mode, hook, values, perText, lossBefore, lossAfter, perplexityBefore, perplexityAfter } = this;
    return { mode, hook: `hook_${hook}`, lossBefore, lossAfter, perplexityBefore, perplexityAfter, values, perText };
  }

  summary(): string {
    if (!this.values.length) return `massive ablation: nothing flagged, nothing set (loss ${fmt(this.lossBefore)})`;
    return (
      `massive ablation (${this.mode}, ${this.values.length} value${this.values.length === 1 ? "" : "s"}): ` +
      `loss ${fmt(this.lossBefore)} -> ${fmt(this.lossAfter)}, perplexity ${fmt(this.perplexityBefore)} -> ${fmt(this.perplexityAfter)}`
    );
  }

  markdown(): string {
    const lines = [
      `**Massive activations set to ${this.mode === "zero" ? "zero" : "their mean"}** at \`blocks.L.hook_${this.hook}\`: ${this.values.length} value${this.values.length === 1 ? "" : "s"}.`,
      "",
      "| | loss | perplexity |",
      "|---|---|---|",
      `| before | ${fmt(this.lossBefore)} | ${fmt(this.perplexityBefore)} |`,
      `| after | ${fmt(this.lossAfter)} | ${fmt(this.perplexityAfter)} |`,
    ];
    if (this.perText.length > 1) {
      lines.push("", "| text | tokens | loss before | loss after | perplexity before | perplexity after |", "|---|---|---|---|---|---|");
      for (const t of this.perText) lines.push(`| ${t.text} | ${t.tokens} | ${fmt(t.lossBefore)} | ${fmt(t.lossAfter)} | ${fmt(t.perplexityBefore)} | ${fmt(t.perplexityAfter)} |`);
    }
    const shown = 20;
    if (this.values.length) {
      // Token strings go through markdownTable, which escapes the pipes a token may hold.
      const rows = this.values.slice(0, shown).map((v) => [String(v.layer), String(v.text), String(v.pos), JSON.stringify(v.token), String(v.dim), fmt(v.from), fmt(v.to)]);
      lines.push("", markdownTable(["layer", "text", "pos", "token", "dim", "value", "set to"], rows));
      if (this.values.length > shown) lines.push("", `... and ${this.values.length - shown} more (\`.values\` has them all).`);
    }
    return lines.join("\n");
  }

  toSteerOutput(): { items: { mime: string; data: unknown }[]; metadata: Record<string, unknown> } {
    return { items: [{ mime: "text/markdown", data: this.markdown() }], metadata: { summary: this.summary() } };
  }

  toString(): string {
    return this.summary();
  }
}
