/**
 * A GGUF model loaded in llama.cpp, with TransformerLens-style hooks on its activations.
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { closeMatches } from "./close-matches";
import {
  BadArgumentError,
  DisposedError,
  EngineError,
  ModelLoadError,
  OutOfRangeError,
  UnknownHookError,
} from "./errors";
import { Runner, type HookFn, type SequencePlan } from "./forward";
import { hookTable, type Architecture, type HookDims, type HookEntry } from "./hook-table";
import { currentInterruptFlag, interruptRequested, onInterruptFlagChange } from "./interrupt";
import { logMark, logProblemsSince, llamaLog } from "./log";
import { checkModelFile, fileTypeName, sha256File, type Provenance } from "./model-file";
import { llamaCppVersion, nativeAddon, nativeDevices, type NativeContext, type NativeModel } from "./native";
import { sampler, type SamplingOptions } from "./sampling";
import { Tensor } from "./tensor";
import { weightTable } from "./weights";

export interface LoadOptions {
  /** KV cache size in tokens (default: the model's training context, at most 4096) */
  contextSize?: number;
  /** CPU threads (default: all cores but one) */
  threads?: number;
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

// One core is left to the editor and the kernel's other threads: llama.cpp's workers spin at barriers,
// so with every core taken, a busy neighbour stalls each graph split (seen: 0.5 s runs taking 5-15 s).
function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
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
  private readonly unsubscribe: () => void;
  private busy = false;

  private constructor(path: string, options: LoadOptions) {
    const file = checkModelFile(path);
    const addon = nativeAddon();
    const gpuLayers = options.gpuLayers ?? 0;
    if (gpuLayers !== 0 && !nativeDevices().some((d) => !d.startsWith("CPU"))) {
      throw new BadArgumentError(`gpuLayers ${gpuLayers} asks for a GPU, but only these devices are loaded: ${nativeDevices().join(", ")}. This build runs on the CPU; load with gpuLayers: 0.`);
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
    this.weights = weightTable(path, dims, new Map(file.gguf.tensors.map((t) => [t.name, t.ne])));
    this.addBos = info.addBos;
    this.eos = info.eos;
    this.provenance = { path, sha256: sha256File(path), quantization: fileTypeName(info.ftype), llamaCppVersion: llamaCppVersion() };

    if (!options.vocabOnly) {
      const nBatch = Math.min(options.batchSize ?? 512, contextSize);
      // llama.cpp asserts (aborts the process) when more sequences than batch outputs are allowed.
      const nSeqMax = Math.min(options.maxSequences ?? 64, 256, nBatch);
      const threads = options.threads ?? defaultThreads();
      for (const [what, v] of [["contextSize", contextSize], ["batchSize", nBatch], ["threads", threads], ["maxSequences", nSeqMax]] as const) {
        if (!Number.isInteger(v) || v < 1) throw new BadArgumentError(`${what} must be a positive integer, got ${v}.`);
      }
      try {
        this.ctx = new addon.Context(this.nativeModel, { nCtx: contextSize, nBatch, nSeqMax, nThreads: threads, kvF32: (options.kvCache ?? "f32") === "f32" });
      } catch {
        this.nativeModel.free();
        throw new ModelLoadError(path, logProblemsSince(mark) || "could not create a context (out of memory? try a smaller contextSize)");
      }
      this.ctx.setAbortFlag(currentInterruptFlag());
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
        interruptRequested,
        () => logProblemsSince(mark),
      );
    }
    this.unsubscribe = onInterruptFlagChange((f) => this.ctx?.setAbortFlag(f));
  }

  /** Loads a GGUF model. Relative paths resolve against the current directory. */
  static load(path: string, options: LoadOptions = {}): Model {
    return new Model(resolve(path), options);
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
   */
  async runBatch(items: readonly BatchItem[]): Promise<RunResult[]> {
    const runner = this.forwardRunner();
    const plans = items.map((item) => this.plan(item.input, item.hooks ?? {}, item.names, item.logits ?? "all"));
    const results = this.exclusive(() => runner.run(plans));
    return results.map((r) => ({ logits: r.logits, cache: new ActivationCache(r.cache) }));
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
      const near = closeMatches(name, this.weights.keys());
      throw new EngineError("unknown-hook", `Unknown weight "${name}".${near.length ? ` Did you mean ${near.map((s) => `"${s}"`).join(", ")}?` : ""} model.weightNames() lists them all.`);
    }
    return spec.read();
  }

  /** llama.cpp's recent log lines (it does not write to stderr). */
  logs(n?: number): string[] {
    return llamaLog(n);
  }

  /** Frees the model and its context. Safe to call twice. */
  dispose(): void {
    this.unsubscribe();
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
      return fn();
    } finally {
      this.busy = false;
    }
  }

  private tokens(input: ModelInput): number[] {
    const toks = typeof input === "string" ? this.tokenize(input) : Array.from(input);
    const n = this.config.nVocab;
    for (const t of toks) if (!Number.isInteger(t) || t < 0 || t >= n) throw new OutOfRangeError("Token id", t, n);
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
