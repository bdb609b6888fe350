/**
 * A GGUF model loaded in llama.cpp, with TransformerLens-style hooks on its activations.
 */
import { statSync } from "node:fs";
import { availableParallelism, freemem } from "node:os";
import { resolve } from "node:path";
import { closeMatches } from "./close-matches";
import {
  BadArgumentError,
  DisposedError,
  EngineError,
  InterruptedError,
  ModelLoadError,
  OutOfRangeError,
  checkIndex,
  UnknownHookError,
  UnknownWeightError,
} from "./errors";
import { Runner, type BatchOptions, type HookFn, type RunStats, type SequencePlan } from "./forward";
import { GradientGraph, gradientOnlyEntry, type GradientOptions, type GradientResult } from "./gradients";
import { hookTable, type Architecture, type HookDims, type HookEntry } from "./hook-table";
import { logMark, logProblemsSince, llamaLog } from "./log";
import { checkModelFile, fileTypeName, provenance, type Provenance } from "./model-file";
import { llamaCppVersion, nativeAddon, nativeDevices, nativeGpuBackends, type GgufInspection, type NativeContext, type NativeModel } from "./native";
import { sampler, type SamplingOptions } from "./sampling";
import { Tensor } from "./tensor";
import { freeCoreThreads } from "./threads";
import { weightTable } from "./weights";

export interface LoadOptions {
  /** KV cache size in tokens (default: the model's training context, at most 4096) */
  contextSize?: number;
  /**
   * CPU threads. Default "auto": a pool of every core, and each run uses the cores no other process
   * wants at that moment (all of them on an idle machine; see threads.ts). A number fixes it.
   */
  threads?: number | "auto";
  /**
   * 0-100: how long idle llama.cpp workers spin waiting for the next graph compute before they sleep
   * (ggml_threadpool_params.poll). Default 0: they sleep, which "auto" threads need (a spinning idle
   * worker looks like a busy neighbour); llama.cpp's own default is 50.
   */
  threadPoll?: number;
  /** Decoding stops with InterruptedError while abortFlag[0] != 0 (an Int32Array, normally over a SharedArrayBuffer another thread writes). */
  abortFlag?: Int32Array | null;
  /** layers to offload to a GPU (default 0); an error while only CPU backends are loaded (the current builds) */
  gpuLayers?: number;
  /** tokens per llama_decode call (default min(512, contextSize)); runBatch packs sequences up to this */
  batchSize?: number;
  /** most sequences one decode carries (default 64, at most 256) */
  maxSequences?: number;
  /** K/V cache precision: "f32" (default) keeps attention exact; "f16" halves its memory, as llama.cpp does by default */
  kvCache?: "f32" | "f16";
  /** load only the tokenizer (no weights, no forward passes) */
  vocabOnly?: boolean;
}

export interface ModelConfig extends HookDims {
  arch: Architecture;
  /** the context this load allocated (tokens) */
  nCtx: number;
  /** the context the model was trained with */
  nCtxTrain: number;
}

export interface HookInfo {
  name: string;
  shape: string[];
}

/** Text (tokenized with the model's BOS convention) or token ids. */
export type ModelInput = string | readonly number[] | Int32Array;
export type Hooks = Record<string, HookFn | HookFn[]>;
export type NamesFilter = readonly string[] | ((name: string) => boolean);

export interface RunOptions {
  /** logits of every position (default) or only the last one ([1, vocab]) */
  logits?: "all" | "last";
}

export interface CacheOptions extends RunOptions {
  /** hooks to record (default: all; fewer is faster, each costs a graph split) */
  names?: NamesFilter;
}

export interface BatchItem extends CacheOptions {
  input: ModelInput;
  hooks?: Hooks;
}

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  hooks?: Hooks;
  /** stop at an end-of-generation token (default true) */
  stopAtEos?: boolean;
}

export interface Generation {
  text: string;
  tokens: number[];
  promptTokens: number[];
}

/** Activations recorded by one run, by hook name. */
export class ActivationCache {
  constructor(private readonly values: Map<string, Tensor>) {}

  get(name: string): Tensor {
    const t = this.values.get(name);
    if (!t) throw new UnknownHookError(name, closeMatches(name, this.values.keys()));
    return t;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  get size(): number {
    return this.values.size;
  }
}

export interface RunResult {
  logits: Tensor;
  cache: ActivationCache;
}

/** What lastRunStats() reports: the runner's counts and the threads the run used. */
export interface RunReport extends RunStats {
  threads: number;
}

function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}

export class Model {
  readonly config: ModelConfig;

  readonly provenance: Provenance;
  private nativeModel: NativeModel | null;
  private ctx: NativeContext | null = null;
  private runner: Runner | null = null;
  private readonly entries = new Map<string, HookEntry>();
  private readonly weights: ReturnType<typeof weightTable>;
  private readonly addBos: boolean;
  private readonly eos: number;
  private abortFlag: Int32Array | null = null;
  /** pool size when threads are chosen per run ("auto"), else null */
  private autoThreads: number | null = null;
  private threadsInUse = 0;
  private busy = false;
  /** the file's GGUF metadata, kept for the gradient graph */
  private readonly ggufKv: GgufInspection["kv"];
  /** the differentiable graph, built on the first gradients() call */
  private gradientGraph: GradientGraph | null = null;
  /** whether startedPatching()'s graph computes what llama.cpp does on this load */
  private readonly startedPatchingExact: boolean;
  private controlVectorOn = false;

  private constructor(path: string, options: LoadOptions) {
    const file = checkModelFile(path);
    this.ggufKv = file.gguf.kv;
    const addon = nativeAddon();
    const gpuLayers = options.gpuLayers ?? 0;
    if (gpuLayers !== 0 && !nativeDevices().some((d) => !d.startsWith("CPU"))) {
      const tried = nativeGpuBackends();
      const why = tried.length
        ? `node-llama-cpp's GPU backends (${tried.join(", ")}) are installed but found no device or driver`
        : `no GPU build of node-llama-cpp is installed (npm installs @node-llama-cpp/${process.platform}-${process.arch}-cuda or -vulkan where the platform has them; STEER_GPU=${process.env.STEER_GPU ?? "auto"})`;
      throw new BadArgumentError(`gpuLayers ${gpuLayers} asks for a GPU, but this machine runs on the CPU only: ${why}. Devices loaded: ${nativeDevices().join(", ")}. Load with gpuLayers: 0.`);
    }
    const mark = logMark();
    try {
      this.nativeModel = new addon.Model(path, { gpuLayers, vocabOnly: options.vocabOnly ?? false });
    } catch {
      throw new ModelLoadError(path, logProblemsSince(mark));
    }
    const info = this.nativeModel.info();
    const kv = file.gguf.kv;
    const num = (key: string, fallback: number) => (typeof kv[`${file.arch}.${key}`] === "number" ? (kv[`${file.arch}.${key}`] as number) : fallback);
    const dHead = num("attention.key_length", info.nEmbd / info.nHead);
    const dims: HookDims = {
      nLayers: info.nLayer,
      nHeads: info.nHead,
      nKvHeads: info.nHeadKv,
      dModel: info.nEmbd,
      dHead,
      dMlp: num("feed_forward_length", 0),
      nVocab: info.nVocab,
    };
    const contextSize = options.contextSize ?? Math.min(info.nCtxTrain || 4096, 4096);
    this.config = { arch: file.arch, ...dims, nCtx: options.vocabOnly ? 0 : contextSize, nCtxTrain: info.nCtxTrain };
    for (const e of hookTable(file.arch, dims)) this.entries.set(e.name, e);
    this.weights = weightTable(path, dims, file.gguf);
    this.addBos = info.addBos;
    this.eos = info.eos;
    this.provenance = provenance(path, fileTypeName(info.ftype), llamaCppVersion());
    // llama.cpp's gpt2 GELU reads a float16 table (~1e-3 relative from the graph's exact GELU); a GPU
    // or an f16 KV cache also computes otherwise than the graph (CPU, F32 attention). Weights: measured
    // on generated llama models, F32 within 1e-6 and Q8_0 equal to the bit, but F16 and Q4_K_M 5e-4 and
    // 1e-2 apart (relative, on the metric): only F32 and Q8_0 tensors qualify.
    this.startedPatchingExact =
      (file.arch === "llama" || file.arch === "qwen2") &&
      gpuLayers === 0 &&
      (options.kvCache ?? "f32") === "f32" &&
      file.gguf.tensors.every((t) => t.type === "f32" || t.type === "q8_0");

    if (!options.vocabOnly) {
      const nBatch = Math.min(options.batchSize ?? 512, contextSize);
      // llama.cpp asserts (aborts the process) when more sequences than batch outputs are allowed.
      const nSeqMax = Math.min(options.maxSequences ?? 64, 256, nBatch);
      const auto = (options.threads ?? "auto") === "auto";
      const threads = auto ? availableParallelism() : (options.threads as number);
      for (const [what, v] of [["contextSize", contextSize], ["batchSize", nBatch], ["threads", threads], ["maxSequences", nSeqMax]] as const) {
        if (!Number.isInteger(v) || v < 1) throw new BadArgumentError(`${what} must be a positive integer, got ${v}.`);
      }
      const poll = options.threadPoll ?? 0;
      if (!Number.isInteger(poll) || poll < 0 || poll > 100) throw new BadArgumentError(`threadPoll must be an integer from 0 to 100, got ${poll}.`);
      try {
        this.ctx = new addon.Context(this.nativeModel, { nCtx: contextSize, nBatch, nSeqMax, nThreads: threads, kvF32: (options.kvCache ?? "f32") === "f32", poll });
      } catch {
        this.nativeModel.free();
        throw new ModelLoadError(path, logProblemsSince(mark) || "could not create a context (out of memory? try a smaller contextSize)");
      }
      this.autoThreads = auto ? threads : null;
      this.threadsInUse = threads;
      const actual = this.ctx.info();
      // llama.cpp may round the context up (to a multiple of 256); report what was allocated.
      this.config.nCtx = actual.nCtx;
      this.runner = new Runner(
        this.ctx,
        this.entries,
        {
          nCtx: actual.nCtx,
          maxPositions: this.entries.has("hook_pos_embed") && info.nCtxTrain > 0 ? info.nCtxTrain : actual.nCtx,
          nBatch: actual.nBatch,
          nSeqMax: actual.nSeqMax,
          nLayers: dims.nLayers,
          nVocab: dims.nVocab,
        },
        () => this.abortFlag !== null && Atomics.load(this.abortFlag, 0) !== 0,
        () => logProblemsSince(mark),
      );
    }
    this.setAbortFlag(options.abortFlag ?? null);
  }

  /** Loads a GGUF model. Relative paths resolve against the current directory. */
  static load(path: string, options: LoadOptions = {}): Model {
    return new Model(resolve(path), options);
  }

  /** Replaces the abort flag given at load (decoding stops while flag[0] != 0; null: never). */
  setAbortFlag(flag: Int32Array | null): void {
    if (flag !== null && !(flag instanceof Int32Array && flag.length >= 1)) throw new BadArgumentError("abortFlag must be an Int32Array with at least one element (or null).");
    this.abortFlag = flag;
    this.ctx?.setAbortFlag(flag);
  }

  /** Every hook point with its dimension names, in forward order. */
  hookNames(): HookInfo[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, shape: [...e.dims] }));
  }

  /** Text to token ids; `bos` defaults to the model's convention. */
  tokenize(text: string, options: { bos?: boolean; parseSpecial?: boolean } = {}): number[] {
    const m = this.live();
    const toks = Array.from(m.tokenize(text, false, options.parseSpecial ?? false));
    const bos = options.bos ?? this.addBos;
    return bos ? [m.info().bos, ...toks] : toks;
  }

  /** One string per token (what each token reads as). */
  toStr(tokens: ModelInput): string[] {
    const m = this.live();
    return this.tokens(tokens).map((t) => decodeUtf8(m.tokenPiece(t)));
  }

  detokenize(tokens: ModelInput, options: { removeSpecial?: boolean } = {}): string {
    return decodeUtf8(this.live().detokenize(Int32Array.from(this.tokens(tokens)), options.removeSpecial ?? false, false));
  }

  async runWithCache(input: ModelInput, options: CacheOptions = {}): Promise<RunResult> {
    return (await this.runBatch([{ ...options, input }]))[0];
  }

  async runWithHooks(input: ModelInput, hooks: Hooks, options: CacheOptions = {}): Promise<RunResult> {
    return (await this.runBatch([{ names: [], ...options, input, hooks }]))[0];
  }

  /**
   * Many inputs, or many interventions on one input, as parallel sequences in as few decodes as
   * the context allows. Each item gets its own hooks; results equal one-by-one runs.
   *
   * `options.sharedPrefix` p: every item starts with the same p tokens (else BadArgumentError) and
   * has more; they are decoded once and their KV cells shared by every item. Hooks then run on
   * positions >= p only (attention hooks still see every key, the prefix's included), cached
   * activations have NaN rows before p, and logits ("all" or "last") equal the unshared run's.
   * `options.onProgress(done, total)` is called after each decode with the items finished so far.
   */
  async runBatch(items: readonly BatchItem[], options: BatchOptions = {}): Promise<RunResult[]> {
    const runner = this.forwardRunner();
    const plans = items.map((item) => this.plan(item.input, item.hooks ?? {}, item.names, item.logits ?? "all"));
    const results = this.exclusive(() => runner.run(plans, options));
    return results.map((r) => ({ logits: r.logits, cache: new ActivationCache(r.cache) }));
  }

  /** What the last runBatch (or run*, generate) sent to llama.cpp: decodes, tokens, prefix tokens shared instead of decoded. */
  lastRunStats(): RunReport {
    return { ...this.forwardRunner().lastRunStats(), threads: this.threadsInUse };
  }

  /** Continues `prompt`; hooks apply to the prompt and to every generated token. */
  async generate(prompt: ModelInput, options: GenerateOptions = {}): Promise<Generation> {
    const runner = this.forwardRunner();
    const maxTokens = options.maxTokens ?? 32;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new BadArgumentError(`maxTokens must be a non-negative integer, got ${maxTokens}.`);
    const plan = this.plan(prompt, options.hooks ?? {}, [], "last");
    const m = this.live();
    const stopAtEos = options.stopAtEos ?? true;
    const isEog = (t: number) => t === this.eos;
    const tokens = this.exclusive(() => runner.generate(plan, maxTokens, sampler(options), (t) => stopAtEos && isEog(t)));
    return { text: decodeUtf8(m.detokenize(Int32Array.from(tokens), false, false)), tokens, promptTokens: Array.from(plan.tokens) };
  }

  /**
   * The raw llama.cpp graph for `input`: every node it evaluates, in order, with its tensor name, op
   * and ggml dims (ne[0] first). For looking under the hook table (see src/engine/hook-table.ts).
   */
  graphTrace(input: ModelInput): { name: string; op: string; ne: number[] }[] {
    const runner = this.forwardRunner();
    const tokens = Int32Array.from(this.tokens(input));
    return this.exclusive(() => runner.trace(tokens));
  }

  /**
   * llama.cpp's own control vector (what `llama-cli --control-vector` applies): `data` holds one
   * d_model vector per layer from layer 1 on (llama.cpp never steers layer 0; layer L at
   * [(L - 1) * d_model, L * d_model)), added to blocks.L.hook_resid_post at every position for
   * layerStart <= L <= layerEnd (default 1 and the last layer). It stays on for every later run,
   * runBatch and generate until `setControlVector(null)` turns it off.
   */
  setControlVector(data: Float32Array | null, options: { layerStart?: number; layerEnd?: number } = {}): void {
    this.forwardRunner();
    const ctx = this.ctx!;
    if (data === null) {
      ctx.setControlVector(null, 0, -1, -1);
      this.controlVectorOn = false;
      return;
    }
    const { dModel: D, nLayers } = this.config;
    if (!(data instanceof Float32Array) || data.length === 0 || data.length % D !== 0 || data.length > (nLayers - 1) * D) {
      throw new BadArgumentError(
        `A control vector for this model is a Float32Array of d_model (${D}) values per layer from layer 1 on, at most ${nLayers - 1} layers (${(nLayers - 1) * D} values); ` +
          `got ${data instanceof Float32Array ? `${data.length} values` : typeof data}.`,
      );
    }
    const start = options.layerStart ?? 1;
    const end = options.layerEnd ?? nLayers - 1;
    for (const [what, v] of [["layerStart", start], ["layerEnd", end]] as const) {
      if (!Number.isInteger(v) || v < 1 || v >= nLayers) throw new BadArgumentError(`${what} must be a layer from 1 to ${nLayers - 1} (llama.cpp never steers layer 0), got ${v}.`);
    }
    const mark = logMark();
    if (ctx.setControlVector(data, D, start, end) !== 0) {
      const log = logProblemsSince(mark);
      throw new EngineError("bad-argument", `llama.cpp refused the control vector.${log ? ` Its log says:\n${log}` : ""}`);
    }
    this.controlVectorOn = true;
  }

  /**
   * The metric on `input` and its gradient at each hook in `options.names`, from a differentiable
   * forward graph of the same weights (exact through every layer's attention; see gradients.ts).
   * Activations and gradients have runWithCache's shapes. Also serves the gradient-only split hooks
   * (blocks.L.hook_q_input etc.), a start at any layer and the relevance rules (see GradientOptions).
   */
  async gradients(input: ModelInput, options: GradientOptions): Promise<GradientResult> {
    this.forwardRunner();
    if (!options || !Array.isArray(options.names)) throw new BadArgumentError("gradients needs { metric, names: string[] } (names: hooks whose gradients to return).");
    const tokens = this.tokens(input);
    const entries = options.names.map((n) => gradientOnlyEntry(n, this.config) ?? this.entry(n));
    return this.exclusive(() => {
      this.gradientGraph ??= new GradientGraph(this.provenance.path, this.ggufKv, this.config.arch, this.config);
      return this.gradientGraph.run(tokens, options, entries, this.threadsInUse, this.abortFlag);
    });
  }

  /**
   * Engine-internal, for the toolkit's exact patching sweeps (not the cell API): a function giving the
   * last position's logits of one input in variants, `hook` replaced by values[i] in variant i, from
   * the gradient graph started at blocks.{start.layer}.hook_resid_pre = start.resid ([variants, vocab];
   * GradientGraph.patchedLogits). null where that graph would not give llama.cpp's numbers or would not
   * pay: gpt2, weights other than F32 and Q8_0, layers on a GPU, an f16 KV cache, a control vector,
   * weights that would not fit in free memory a second time, STEER_SWEEP=llama.cpp (the one switch
   * that forces llama.cpp).
   */
  startedPatching(): ((start: { layer: number; resid: Tensor }, hook: string, values: readonly Tensor[]) => Tensor) | null {
    this.forwardRunner();
    if (!this.startedPatchingExact || this.controlVectorOn || process.env.STEER_SWEEP === "llama.cpp") return null;
    if (!this.gradientGraph) {
      if (statSync(this.provenance.path).size > freemem() / 2) return null;
      try {
        this.gradientGraph = new GradientGraph(this.provenance.path, this.ggufKv, this.config.arch, this.config);
      } catch (e) {
        if (e instanceof EngineError && e.code === "unsupported-architecture") return null;
        throw e;
      }
    }
    return (start, hook, values) => {
      const entry = this.entry(hook);
      return this.exclusive(() => {
        if (this.abortFlag !== null && Atomics.load(this.abortFlag, 0) !== 0) throw new InterruptedError();
        if (!this.gradientGraph) throw new DisposedError();
        return this.gradientGraph.patchedLogits(start, entry, [...values], this.threadsInUse, this.abortFlag);
      });
    };
  }

  /** Names accepted by weight(), in TransformerLens spelling. */
  weightNames(): string[] {
    return [...this.weights.keys()];
  }

  /** A weight, dequantized to F32, in TransformerLens shape (e.g. blocks.0.attn.W_Q is [head, d_model, d_head]). */
  weight(name: string): Tensor {
    this.live();
    const spec = this.weights.get(name);
    if (!spec) {
      this.checkLayer(name);
      throw new UnknownWeightError(name, closeMatches(name, this.weights.keys()));
    }
    return spec.read();
  }

  /** llama.cpp's recent log lines (it does not write to stderr). */
  logs(n?: number): string[] {
    return llamaLog(n);
  }

  /** Frees the model and its context. Safe to call twice. */
  dispose(): void {
    this.gradientGraph?.free();
    this.gradientGraph = null;
    this.ctx?.free();
    this.ctx = null;
    this.runner = null;
    this.nativeModel?.free();
    this.nativeModel = null;
  }

  get disposed(): boolean {
    return this.nativeModel === null;
  }

  private live(): NativeModel {
    if (!this.nativeModel) throw new DisposedError();
    return this.nativeModel;
  }

  private forwardRunner(): Runner {
    this.live();
    if (!this.runner) throw new BadArgumentError("This model was loaded with vocabOnly: it can tokenize but not run. Load it without vocabOnly.");
    return this.runner;
  }

  /** A hook edited from inside another hook would re-enter llama_decode: refuse clearly instead. */
  private exclusive<T>(fn: () => T): T {
    if (this.busy) throw new BadArgumentError("This model is already running (a hook called back into it). Run it after the current call returns.");
    this.busy = true;
    try {
      if (this.autoThreads !== null) {
        const n = freeCoreThreads(this.autoThreads);
        if (n !== this.threadsInUse) this.ctx!.setThreads(n);
        this.threadsInUse = n;
      }
      return fn();
    } finally {
      this.busy = false;
    }
  }

  private tokens(input: ModelInput): number[] {
    const toks = typeof input === "string" ? this.tokenize(input) : Array.from(input);
    const n = this.config.nVocab;
    for (const t of toks) checkIndex("Token id", t, n, `the vocabulary has ${n} tokens`);
    return toks;
  }

  private checkLayer(name: string) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m && Number(m[1]) >= this.config.nLayers) throw new OutOfRangeError("Layer", Number(m[1]), this.config.nLayers);
  }

  private entry(name: string): HookEntry {
    const e = this.entries.get(name);
    if (e) return e;
    this.checkLayer(name);
    throw new UnknownHookError(name, closeMatches(name, this.entries.keys()));
  }

  private plan(input: ModelInput, hooks: Hooks, names: NamesFilter | undefined, logits: "all" | "last"): SequencePlan {
    if (logits !== "all" && logits !== "last") throw new BadArgumentError(`logits must be "all" or "last", got ${JSON.stringify(logits)}.`);
    const hookMap = new Map<string, HookFn[]>();
    for (const [name, fns] of Object.entries(hooks)) {
      this.entry(name);
      const list = Array.isArray(fns) ? fns : [fns];
      for (const f of list) if (typeof f !== "function") throw new BadArgumentError(`The hook for ${name} is not a function.`);
      hookMap.set(name, list);
    }
    const cache = new Set<string>();
    if (names === undefined) for (const e of this.entries.keys()) cache.add(e);
    else if (typeof names === "function") {
      for (const e of this.entries.keys()) if (names(e)) cache.add(e);
    }
    else for (const n of names) cache.add(this.entry(n).name);
    return { tokens: Int32Array.from(this.tokens(input)), hooks: hookMap, cache, logits };
  }
}
