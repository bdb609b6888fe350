/**
 * The native boundary: the only file that touches native/build/Release/steer_llama.node, typed here
 * once. The addon is a thin layer over llama.cpp (see native/src/addon.cpp); every policy decision
 * (hook names, layouts, batching, errors) lives in TypeScript.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export interface NativeModelInfo {
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nEmbd: number;
  nCtxTrain: number;
  nVocab: number;
  /** llama_ftype */
  ftype: number;
  bos: number;
  eos: number;
  addBos: boolean;
  desc: string;
}

export interface NativeModel {
  info(): NativeModelInfo;
  /** A metadata value as llama.cpp formats it, or null when the key is absent. */
  meta(key: string): string | null;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  /** The bytes of one token's text (a piece may be part of a UTF-8 character). */
  tokenPiece(token: number): Uint8Array;
  detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): Uint8Array;
  free(): void;
}

export interface NativeContextOptions {
  nCtx: number;
  /** Also the micro-batch size: one decode is one micro-batch, so rows stay in batch order. */
  nBatch: number;
  nSeqMax: number;
  nThreads: number;
  /** F32 K/V cache (exact) instead of F16 */
  kvF32: boolean;
  /** 0-100: how long idle llama.cpp workers spin for the next graph compute before sleeping (ggml_threadpool_params.poll) */
  poll: number;
}

export interface NativeContextInfo {
  nCtx: number;
  nBatch: number;
  nUbatch: number;
  nSeqMax: number;
  nThreads: number;
}

/**
 * Called during decode, synchronously on this thread, for each observed tensor: `index` is its
 * position in the last observe() list, `data` a copy of its values (ggml order, ne[0] fastest),
 * `ne` its four ggml dimensions. Return true to write `data` back into the graph.
 */
export type TensorCallback = (index: number, data: Float32Array, ne: number[]) => boolean;

export interface NativeTraceEntry {
  name: string;
  op: string;
  ne: number[];
}

export interface NativeContext {
  info(): NativeContextInfo;
  /** Graph tensors the next decodes report, as "name" or "name@OP" (op as ggml_op_desc prints it). */
  observe(keys: string[]): void;
  /** llama_decode of one batch; returns its status (0 ok, 1 no KV slot, 2 aborted, <0 error). */
  decode(tokens: Int32Array, positions: Int32Array, seqIds: Int32Array, outputs: Uint8Array, onTensor?: TensorCallback): number;
  /** Logits of the given batch rows (rows that asked for output), [rows.length, n_vocab]. */
  logits(rows: Int32Array): Float32Array;
  /** Empties the KV cache. */
  clear(): void;
  /** llama_memory_seq_cp(src, dst, all positions): sequence `dst` shares every KV cell of `src`. */
  seqCopy(src: number, dst: number): void;
  /** Threads the next decodes use (at most the pool's nThreads; the others sleep). */
  setThreads(n: number): void;
  /** Decoding aborts while flag[0] != 0 (null: never). */
  setAbortFlag(flag: Int32Array | null): void;
  /** trace(true) starts recording every graph node visited; trace(false) stops and returns them. */
  trace(on: boolean): NativeTraceEntry[];
  /**
   * llama_set_adapter_cvec: `data` is one nEmbd vector per layer from layer 1 on (llama.cpp never
   * steers layer 0), added to l_out-L for ilStart <= L <= ilEnd; null turns it off. 0 on success.
   */
  setControlVector(data: Float32Array | null, nEmbd: number, ilStart: number, ilEnd: number): number;
  free(): void;
}

export type GgufKvValue = number | boolean | string | { arrayType: string; length: number } | null;

export interface GgufTensorEntry {
  name: string;
  /** ggml type name, e.g. "f32", "q8_0" */
  type: string;
  /** ggml dims, ne[0] fastest, always 4 entries */
  ne: number[];
  /** relative to dataOffset */
  offset: number;
  size: number;
}

export interface GgufInspection {
  version: number;
  dataOffset: number;
  kv: Record<string, GgufKvValue>;
  tensors: GgufTensorEntry[];
}

/** The gradient graph's hyperparameters (see src/engine/gradients.ts). */
export interface NativeGradHParams {
  arch: string;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  dHead: number;
  nRot: number;
  nCtxOrig: number;
  /** ggml rope mode: 0 NORM (llama), 2 NEOX (qwen2) */
  ropeMode: number;
  eps: number;
  ropeBase: number;
  ropeScale: number;
}

/** kind 0: logit a - logit b; 1: log p(a); 2: weights . logits; all at row `pos`. */
export interface NativeGradMetric {
  kind: number;
  a: number;
  b: number;
  pos: number;
  weights: Float32Array | null;
}

export interface NativeGradOutput {
  /** 0 ok, 2 aborted, 1 failed */
  status: number;
  value: number;
  /** [pos][vocab] */
  logits: Float32Array;
  /** per requested graph tensor, token-major */
  values: Float32Array[];
  grads: Float32Array[];
}

/** How the graph of one run is built. */
export interface NativeGradRunOptions {
  /** first layer computed (0 with `resid` null: from the tokens' embeddings) */
  start: number;
  /** the residual stream entering layer `start`, [pos][d_model]; null: from the tokens */
  resid: Float32Array | null;
  /** layer-wise relevance rules in place of the local gradient (see grad.cpp's run) */
  relevance: boolean;
  /** layers whose attention readers each read a copy of the residual (q_input-L, k_input-L, v_input-L) */
  splitAttn: Int32Array;
  /** layers whose MLP reads a copy of its own (mlp_in-L) */
  splitMlp: Int32Array;
}

/** A differentiable forward graph over the GGUF file's weights (native/src/grad.cpp). */
export interface NativeGradModel {
  /** `names`: graph tensor names (e.g. "z-3"); aborts while abortFlag[0] != 0. */
  run(tokens: Int32Array, metric: NativeGradMetric, names: string[], nThreads: number, abortFlag: Int32Array | null, options: NativeGradRunOptions): NativeGradOutput;
  /**
   * Forward only, from `resid` ([T][d_model], entering layer `start`): `copies` variants in one graph,
   * graph tensor `name` replaced in variant i by values[i] (token-major). Logits: each variant's last position, [copies][vocab].
   */
  patched(T: number, start: number, resid: Float32Array, name: string, values: Float32Array, copies: number, nThreads: number, abortFlag: Int32Array | null): { status: number; logits?: Float32Array };
  free(): void;
}

interface Addon {
  /** the CPU backends of binsDir, then the GPU backend libraries given (those that cannot load are skipped) */
  init(binsDir: string, gpuBackends: string[]): string[];
  takeLogs(): string[];
  version(): string;
  /** null when ggml's gguf reader rejects the file */
  ggufInspect(path: string): GgufInspection | null;
  /** One tensor's data (`bytes` at absolute file `offset`, ggml `type` name, `count` elements) as F32. */
  ggufTensorF32(path: string, type: string, offset: number, bytes: number, count: number): Float32Array;
  /** llama_model_quantize: 0 on success */
  quantize(src: string, dst: string, ftype: number, nThreads: number): number;
  Model: new (path: string, options: { gpuLayers: number; vocabOnly: boolean }) => NativeModel;
  Context: new (model: NativeModel, options: NativeContextOptions) => NativeContext;
  GradModel: new (path: string, hparams: NativeGradHParams) => NativeGradModel;
}

const ADDON = join("native", "build", "Release", "steer_llama.node");

/** The repository (or installed extension) root: the first folder upwards that holds the built addon. */
function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, ADDON))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`The native engine is not built (${ADDON} not found above ${__dirname}). Run \`node scripts/build-native.mjs\` (npm ci runs it).`);
}

let addon: Addon | undefined;
let devices: string[] = [];

export function nativeAddon(): Addon {
  if (addon) return addon;
  const root = process.env.STEER_NATIVE_ROOT ?? findRoot();
  const platform = `${process.platform}-${process.arch}`;
  const bins = resolve(root, "node_modules", "@node-llama-cpp", platform, "bins", platform);
  // A computed path: bundlers must leave this require to run time.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(resolve(root, ADDON)) as Addon;
  gpuBackends = gpuBackendLibraries(root, platform);
  devices = loaded.init(bins, gpuBackends);
  if (devices.length === 0) throw new Error(`No llama.cpp compute backend could be loaded from ${bins}.`);
  addon = loaded;
  return addon;
}

let gpuBackends: string[] = [];

/**
 * node-llama-cpp's GPU builds, when npm installed them (its optional dependencies per platform): their
 * backend libraries plug into the same ggml as the CPU build. STEER_GPU picks one ("cuda", "vulkan") or
 * none ("none"); the default tries CUDA, then Vulkan.
 */
function gpuBackendLibraries(root: string, platform: string): string[] {
  const choice = process.env.STEER_GPU ?? "auto";
  const kinds = choice === "auto" ? ["cuda", "vulkan"] : choice === "none" ? [] : [choice];
  return kinds
    .map((kind) => resolve(root, "node_modules", "@node-llama-cpp", `${platform}-${kind}`, "bins", `${platform}-${kind}`, `libggml-${kind}.so`))
    .filter((lib) => existsSync(lib));
}

/** The GPU backend libraries the engine tried to load (see gpuBackendLibraries), loaded or not. */
export function nativeGpuBackends(): string[] {
  nativeAddon();
  return gpuBackends;
}

let version: string | undefined;

/** llama.cpp's version string, with the node-llama-cpp release whose prebuilt libraries it is. */
export function llamaCppVersion(): string {
  if (version) return version;
  const root = process.env.STEER_NATIVE_ROOT ?? findRoot();
  let release = "";
  try {
    release = ` (node-llama-cpp ${JSON.parse(readFileSync(join(root, "node_modules", "node-llama-cpp", "package.json"), "utf8")).version})`;
  } catch {
    // the libraries were found without node-llama-cpp's package.json: report llama.cpp's own string only
  }
  version = nativeAddon().version() + release;
  return version;
}

/** Compute devices llama.cpp found (e.g. "CPU: AMD EPYC"). */
export function nativeDevices(): string[] {
  nativeAddon();
  return devices;
}
