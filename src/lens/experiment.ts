/**
 * One patching experiment bound to a model: the tokenized clean and corrupted prompts, the metric on
 * both, the caches the interventions copy from, and a runner that evaluates many interventions in
 * batches. Activation patching, path patching and circuit discovery are built on it.
 *
 * Modes (TransformerLens patching.py and the ablation literature):
 * - "patch": denoising. The corrupted prompt runs with the component copied from the clean run; 0 is
 *   the corrupted run and 1 the clean run, so a value says how much of the behaviour the component restores.
 * - "zero", "mean", "resample": the clean prompt runs with the component zeroed, replaced by its mean over
 *   the dataset (all prompts and positions), or replaced by its value on another input (the corrupted
 *   prompt when given, else the next prompt of the dataset). Values are normalized the same way when a
 *   corrupted prompt is given (1 = no effect), else they are the change of the metric.
 */
import { BadArgumentError, InterruptedError, Tensor, patch as patchHook, zero as zeroHook, type BatchItem, type HookContext, type HookFn, type Hooks, type Model, type Selection } from "../engine";
import type { MetricInfo, TokenProb } from "../protocol";
import { tokenizePairs, tokenizePrompts, type Prompts, type TokenizedPrompt } from "./inputs";
import { meanMetric as averageMetric, normalize, toMetric, type BoundMetric, type Metric, type MetricLike } from "./metrics";
import { topTokens } from "./tokens";

export type Mode = "patch" | "zero" | "mean" | "resample";
export const MODES: readonly Mode[] = ["patch", "zero", "mean", "resample"];

export interface ExperimentOptions {
  clean: Prompts;
  /** required for "patch"; optional for the ablations (it sets the 0 of the normalized scale) */
  corrupt?: Prompts;
  metric: MetricLike;
  /** default "patch" */
  mode?: Mode;
  /** called after each batch of runs with the number of interventions done and the total */
  onProgress?: (done: number, total: number) => void;
  /** interventions per runBatch call (default 64); the interrupt is checked between batches */
  batchSize?: number;
}

/** One intervention: a hook per hook name, applied to every prompt of the dataset. */
export type Intervention = (prompt: number) => Hooks;

type StartedPatching = NonNullable<ReturnType<Model["startedPatching"]>>;

/** Most tokens (variants x prompt length) in one started graph, as llama.cpp's default batch. */
const STARTED_GRAPH_TOKENS = 512;

export class Experiment {
  readonly metricInfo: MetricInfo;
  /** whether values are normalized (a corrupted baseline exists) */
  readonly normalized: boolean;

  private constructor(
    readonly model: Model,
    readonly mode: Mode,
    readonly metric: Metric,
    readonly clean: TokenizedPrompt[],
    readonly corrupt: TokenizedPrompt[] | null,
    private readonly bound: BoundMetric,
    /** last-position logits of the clean and corrupted runs, per prompt */
    readonly cleanLast: Float32Array[],
    readonly corruptLast: Float32Array[] | null,
    readonly cleanValue: number,
    readonly corruptValue: number | null,
    private readonly sources: Map<string, Tensor[]>,
    /** the activations of the run interventions start from (corrupted for "patch", else clean) */
    private readonly bases: Map<string, Tensor[]>,
    private readonly options: ExperimentOptions,
  ) {
    this.normalized = corruptValue !== null;
    this.metricInfo = { name: metric.name, clean: cleanValue, ...(corruptValue !== null ? { corrupt: corruptValue } : {}), normalized: this.normalized };
  }

  /**
   * Runs the clean (and corrupted) prompts once, keeping `hooks` (the activations interventions will
   * copy from or average over).
   */
  static async create(model: Model, options: ExperimentOptions, hooks: readonly string[]): Promise<Experiment> {
    const mode = options.mode ?? "patch";
    if (!MODES.includes(mode)) throw new BadArgumentError(`mode must be one of ${MODES.map((m) => `"${m}"`).join(", ")}, got ${JSON.stringify(mode)}.`);
    const metric = toMetric(options.metric);
    let clean: TokenizedPrompt[];
    let corrupt: TokenizedPrompt[] | null = null;
    if (options.corrupt !== undefined) ({ clean, corrupt } = tokenizePairs(model, options.clean, options.corrupt));
    else if (mode === "patch") throw new BadArgumentError('Patching needs a corrupted input: pass corrupt (same token length as clean), or choose mode "zero", "mean" or "resample".');
    else clean = tokenizePrompts(model, options.clean, "clean");
    if (mode === "resample" && !corrupt && clean.length < 2) {
      throw new BadArgumentError("Resample ablation takes each prompt's activations from another input: pass corrupt, or at least two clean prompts.");
    }
    const names = [...new Set(hooks)];
    const runs = await model.runBatch([
      ...clean.map((p) => ({ input: p.tokens, names, logits: "last" as const })),
      ...(corrupt ?? []).map((p) => ({ input: p.tokens, names, logits: "last" as const })),
    ]);
    const cleanRuns = runs.slice(0, clean.length);
    const corruptRuns = corrupt ? runs.slice(clean.length) : null;
    const bound = metric.bind(model, clean);
    const cleanLast = cleanRuns.map((r) => r.logits.data);
    const corruptLast = corruptRuns?.map((r) => r.logits.data) ?? null;
    const cleanValue = averageMetric(bound, cleanLast, cleanLast);
    const corruptValue = corruptLast ? averageMetric(bound, corruptLast, cleanLast) : null;

    // Where each intervention copies from, per hook and prompt.
    const sources = new Map<string, Tensor[]>();
    const bases = new Map<string, Tensor[]>();
    for (const name of names) {
      const cleanActs = cleanRuns.map((r) => r.cache.get(name));
      bases.set(name, mode === "patch" ? corruptRuns!.map((r) => r.cache.get(name)) : cleanActs);
      let src: Tensor[] = [];
      if (mode === "patch") src = cleanActs;
      else if (mode === "mean") {
        const meanOf = datasetMean(cleanActs);
        src = clean.map((p) => meanOf(p.tokens.length));
      }
      else if (mode === "resample") {
        src = corruptRuns ? corruptRuns.map((r) => r.cache.get(name)) : cleanActs.map((_, i) => cleanActs[(i + 1) % cleanActs.length]);
        src.forEach((s, i) => {
          if (s.shape[0] !== cleanActs[i].shape[0] && !name.endsWith("hook_pattern")) {
            throw new BadArgumentError(`Resample ablation copies prompt ${(i + 1) % src.length}'s activations into prompt ${i}: they must have the same token length. Pass corrupt prompts of equal length.`);
          }
        });
      }
      sources.set(name, src);
    }
    return new Experiment(model, mode, metric, clean, corrupt, bound, cleanLast, corruptLast, cleanValue, corruptValue, sources, bases, options);
  }

  get size(): number {
    return this.clean.length;
  }

  /** The tokens each intervention runs on: corrupted for patching, clean for ablations. */
  baseTokens(i: number): number[] {
    return this.mode === "patch" ? this.corrupt![i].tokens : this.clean[i].tokens;
  }

  /** The metric of the run the interventions start from. */
  get baseValue(): number {
    return this.mode === "patch" ? this.corruptValue! : this.cleanValue;
  }

  baseLast(i: number): Float32Array {
    return this.mode === "patch" ? this.corruptLast![i] : this.cleanLast[i];
  }

  /** The experiment's own intervention on `hook` for prompt `i`, restricted to `sel`. */
  intervene(hook: string, i: number, sel: Selection): HookFn {
    if (this.mode === "zero") return zeroHook(sel);
    const src = this.sources.get(hook);
    if (!src) throw new Error(`internal: ${hook} was not cached for this experiment`);
    return patchHook(src[i], sel);
  }

  /** Holds `hook` (restricted to `sel`) at its value in the run interventions start from. */
  freeze(hook: string, i: number, sel: Selection = {}): HookFn {
    const b = this.bases.get(hook);
    if (!b) throw new Error(`internal: ${hook} was not cached for this experiment`);
    return patchHook(b[i], sel);
  }

  /**
   * How much a component matters when the experiment's intervention is applied to it, from its score:
   * the restored share when patching (denoising), the lost share when ablating (noising).
   */
  importance(score: number): number {
    return this.mode === "patch" || !this.normalized ? score : 1 - score;
  }

  /** The value reported for a metric: normalized when there is a corrupted baseline, else the change. */
  score(metricValue: number): number {
    return this.normalized ? normalize(metricValue, this.cleanValue, this.corruptValue!) : metricValue - this.cleanValue;
  }

  get valueLabel(): string {
    if (!this.normalized) return `change of ${this.metric.name}`;
    return this.mode === "patch" ? "patched metric, normalized (0 = corrupt, 1 = clean)" : `${this.mode}-ablated metric, normalized (0 = corrupt, 1 = clean)`;
  }

  /**
   * Evaluates every intervention on every prompt (its metric averaged over the dataset), in batches
   * of runBatch. When interrupted, the engine's InterruptedError carries `partial`: `{ result, done,
   * total }`, the result made by `partialResult` from what finished (the rest NaN), so a stopped sweep
   * keeps its work.
   *
   * `replacesOneHook`: the caller vouches that each intervention is the experiment's own (intervene)
   * on one [pos, ...] hook of this experiment, so its replacement value is known up front. The batches
   * then run on graphs started at that hook's layer (model.startedPatching) where the engine offers
   * them: the layers below it are not recomputed per variant. Same batches, progress and interrupt.
   */
  async evaluate(interventions: readonly Intervention[], partialResult?: (values: Float64Array) => unknown, from?: (k: number) => number, replacesOneHook = false): Promise<Float64Array> {
    const n = this.size;
    const total = interventions.length;
    const values = new Float64Array(total).fill(NaN);
    const batch = this.options.batchSize ?? 64;
    if (!(Number.isInteger(batch) && batch > 0)) throw new BadArgumentError(`batchSize must be a positive integer, got ${batch}.`);
    // Interventions that touch only positions >= p share the prompt's first p tokens: llama.cpp decodes
    // them once per batch and copies their KV cells (runBatch's sharedPrefix).
    const groups: { prefix: number; ks: number[] }[] = [];
    if (from) {
      const byPrefix = new Map<number, number[]>();
      interventions.forEach((_, k) => {
        const p = from(k);
        byPrefix.set(p, [...(byPrefix.get(p) ?? []), k]);
      });
      for (const [prefix, ks] of byPrefix) {
        const per = prefix > 0 ? batch : Math.max(1, Math.floor(batch / n));
        for (let j = 0; j < ks.length; j += per) groups.push({ prefix, ks: ks.slice(j, j + per) });
      }
    } else {
      const perBatch = Math.max(1, Math.floor(batch / n));
      for (let k0 = 0; k0 < total; k0 += perBatch) groups.push({ prefix: 0, ks: Array.from({ length: Math.min(perBatch, total - k0) }, (_, j) => k0 + j) });
    }
    const started = replacesOneHook && !from ? this.model.startedPatching() : null;
    let done = 0;
    try {
      for (const g of groups) {
        const sums = started ? await this.startedSums(started, interventions, g.ks) : await this.batchSums(interventions, g);
        g.ks.forEach((k, c) => (values[k] = sums[c] / n));
        done += g.ks.length;
        this.options.onProgress?.(done, total);
      }
    } catch (e) {
      if (e instanceof InterruptedError && partialResult && done > 0) {
        Object.assign(e, { partial: { result: partialResult(values), done, total } });
        e.message += ` ${done} of ${total} interventions had finished: their result is on error.partial.result.`;
      }
      throw e;
    }
    return values;
  }

  /** Each intervention's metric summed over the prompts, from runBatch. */
  private async batchSums(interventions: readonly Intervention[], g: { prefix: number; ks: number[] }): Promise<Float64Array> {
    const n = this.size;
    const sums = new Float64Array(g.ks.length);
    // A shared prefix is one prompt's: prompts of a dataset differ, so each runs as its own batch.
    const parts = g.prefix > 0 ? Array.from({ length: n }, (_, i) => [i]) : [Array.from({ length: n }, (_, i) => i)];
    for (const prompts of parts) {
      const items: BatchItem[] = g.ks.flatMap((k) => prompts.map((i) => ({ input: this.baseTokens(i), logits: "last" as const, names: [], hooks: interventions[k](i) })));
      const runs = await this.model.runBatch(items, g.prefix > 0 ? { sharedPrefix: g.prefix } : {});
      this.count(this.model.lastRunStats());
      g.ks.forEach((_, c) => prompts.forEach((i, j) => (sums[c] += this.bound(i, runs[c * prompts.length + j].logits.data, this.cleanLast[i]))));
    }
    return sums;
  }

  /**
   * The same sums from graphs started at each replaced hook's layer, from the base run's residual
   * stream there: per prompt, consecutive interventions on one hook side by side in one graph.
   */
  private async startedSums(run: StartedPatching, interventions: readonly Intervention[], ks: number[]): Promise<Float64Array> {
    const sums = new Float64Array(ks.length);
    const resid = await this.startResiduals();
    for (let i = 0; i < this.size; i++) {
      const T = this.baseTokens(i).length;
      // Attention in one graph spans all its variants' tokens: keep it to about one llama.cpp batch.
      const perGraph = Math.max(1, Math.floor(STARTED_GRAPH_TOKENS / T));
      const replaced = ks.map((k) => this.replacement(interventions[k](i), i));
      for (let c0 = 0; c0 < ks.length; ) {
        const { hook, layer } = replaced[c0];
        let c1 = c0 + 1;
        while (c1 < ks.length && c1 - c0 < perGraph && replaced[c1].hook === hook) c1++;
        const logits = run({ layer, resid: resid[layer][i] }, hook, replaced.slice(c0, c1).map((r) => r.value));
        const V = logits.shape[1];
        for (let c = c0; c < c1; c++) sums[c] += this.bound(i, logits.data.slice((c - c0) * V, (c - c0 + 1) * V), this.cleanLast[i]);
        c0 = c1;
      }
    }
    return sums;
  }

  /** The one hook an intervention replaces, its layer and its value: the base run's, edited by the intervention's hook. */
  private replacement(hooks: Hooks, i: number): { hook: string; layer: number; value: Tensor } {
    const names = Object.keys(hooks);
    const base = names.length === 1 ? this.bases.get(names[0])?.[i] : undefined;
    const layer = Number(/^blocks\.(\d+)\./.exec(names[0] ?? "")?.[1]);
    if (!base || base.dims[0] !== "pos" || !Number.isInteger(layer)) throw new Error(`internal: a started-graph sweep needs one [pos, ...] hook of the experiment per intervention, got ${names.join(", ")}`);
    let value = new Tensor(base.shape, base.data.slice(), base.dims);
    const ctx: HookContext = { name: names[0], layer, seq: 0, positions: Int32Array.from({ length: base.shape[0] }, (_, p) => p), step: 0 };
    for (const fn of [hooks[names[0]]].flat()) {
      const r = fn(value, ctx);
      if (r instanceof Tensor) value = r;
      else if (r instanceof Float32Array) value = new Tensor(value.shape, r, value.dims);
    }
    return { hook: names[0], layer, value };
  }

  /** Each layer's hook_resid_pre in the base run of each prompt ([layer][prompt]), run once. */
  private async startResiduals(): Promise<Tensor[][]> {
    if (!this.residPre) {
      const names = Array.from({ length: this.model.config.nLayers }, (_, l) => `blocks.${l}.hook_resid_pre`);
      const runs = await this.model.runBatch(Array.from({ length: this.size }, (_, i) => ({ input: this.baseTokens(i), names, logits: "last" as const })));
      this.residPre = names.map((name) => runs.map((r) => r.cache.get(name)));
    }
    return this.residPre;
  }

  private residPre: Tensor[][] | null = null;

  /** Tokens decoded by this experiment's sweeps, and prefix tokens shared instead of decoded. */
  readonly stats = { decodedTokens: 0, sharedPrefixTokens: 0 };

  private count(s: { decodedTokens: number; sharedPrefixTokens: number }) {
    this.stats.decodedTokens += s.decodedTokens;
    this.stats.sharedPrefixTokens += s.sharedPrefixTokens;
  }

  /** The metric averaged over the dataset, from each prompt's last-position logits. */
  meanMetric(lasts: readonly Float32Array[]): number {
    return averageMetric(this.bound, lasts, this.cleanLast);
  }

  /** The dataset-averaged metric of one intervention, and prompt 0's top tokens before and after. */
  async measure(iv: Intervention, onClean = false): Promise<{ before: number; after: number; topBefore: TokenProb[]; topAfter: TokenProb[] }> {
    const n = this.size;
    const base = (i: number) => (onClean ? this.clean[i].tokens : this.baseTokens(i));
    const runs = await this.model.runBatch(Array.from({ length: n }, (_, i) => ({ input: base(i), logits: "last" as const, names: [], hooks: iv(i) })));
    const after = this.meanMetric(runs.map((r) => r.logits.data));
    const beforeLast = onClean ? this.cleanLast[0] : this.baseLast(0);
    return {
      before: onClean ? this.cleanValue : this.baseValue,
      after,
      topBefore: topTokens(this.model, beforeLast, 5),
      topAfter: topTokens(this.model, runs[0].logits.data, 5),
    };
  }
}

/**
 * The mean over every prompt and position, summed once; gives it as a [len, ...] tensor of equal rows,
 * one tensor per length.
 */
function datasetMean(acts: Tensor[]): (len: number) => Tensor {
  const first = acts[0];
  if (first.dims[0] !== "pos") {
    throw new BadArgumentError(`Mean ablation averages over positions: ${first.dims.join(", ")} has no leading pos dimension (use mode "zero" or "patch" for attention patterns).`);
  }
  const w = first.size / first.shape[0];
  const sum = new Float64Array(w);
  let count = 0;
  for (const a of acts) {
    for (let p = 0; p < a.shape[0]; p++) for (let j = 0; j < w; j++) sum[j] += a.data[p * w + j];
    count += a.shape[0];
  }
  const byLength = new Map<number, Tensor>();
  return (len) => {
    let out = byLength.get(len);
    if (!out) {
      out = new Tensor([len, ...first.shape.slice(1)], undefined, first.dims);
      for (let p = 0; p < len; p++) for (let j = 0; j < w; j++) out.data[p * w + j] = sum[j] / count;
      byLength.set(len, out);
    }
    return out;
  };
}
