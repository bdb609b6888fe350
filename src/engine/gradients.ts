/**
 * Gradients of a metric on the logits with respect to activations, from the forward graph of our own
 * in native/src/grad.cpp (llama.cpp's training graph carries no gradient through K and V; see
 * /work/shared/notes/llama-cpp-gradients.md). Values and gradients come back under the engine's hook
 * names with runWithCache's shapes and dims.
 */
import { BadArgumentError, EngineError, InterruptedError, OutOfRangeError } from "./errors";
import type { Architecture, HookDims, HookEntry } from "./hook-table";
import { nativeAddon, type GgufInspection, type NativeGradHParams, type NativeGradModel } from "./native";
import { Tensor } from "./tensor";

/** What the gradient is of: a logit difference, a log-probability, or a weighted sum of logits, at one position (default: the last; negative counts from the end). */
export type GradientMetric =
  | { kind: "logitDiff"; correct: number; wrong: number; pos?: number }
  | { kind: "logProb"; token: number; pos?: number }
  | { kind: "logits"; weights: Float32Array; pos?: number };

export interface GradientOptions {
  metric: GradientMetric;
  /** hooks whose values and gradients to return (see GRADIENT_HOOKS) */
  names: readonly string[];
}

export interface GradientResult {
  /** the metric on this input */
  value: number;
  /** [pos, vocab], as runWithCache's */
  logits: Tensor;
  /** forward values at the requested hooks, with runWithCache's shapes */
  activations: Map<string, Tensor>;
  /** d value / d activation, same shapes */
  gradients: Map<string, Tensor>;
}

export const GRADIENT_ARCHITECTURES: readonly Architecture[] = ["llama", "qwen2", "gpt2"];

/**
 * The one table from hook names to the gradient graph's tensors (names set in grad.cpp's Forward),
 * beside the engine's hook table; every tensor there is already in runWithCache's layout.
 */
function graphName(hook: string): string | null {
  const top: Record<string, string> = { hook_embed: "embed", hook_pos_embed: "pos_embed", "ln_final.hook_normalized": "ln_final" };
  if (top[hook]) return top[hook];
  const m = /^blocks\.(\d+)\.(.+)$/.exec(hook);
  if (!m) return null;
  const inBlock: Record<string, string> = {
    hook_resid_pre: "resid_pre",
    "ln1.hook_normalized": "ln1",
    "attn.hook_q": "q",
    "attn.hook_k": "k",
    "attn.hook_v": "v",
    "attn.hook_rot_q": "rot_q",
    "attn.hook_rot_k": "rot_k",
    "attn.hook_pattern": "pattern",
    "attn.hook_z": "z",
    hook_attn_out: "attn_out",
    hook_resid_mid: "resid_mid",
    "ln2.hook_normalized": "ln2",
    "mlp.hook_pre": "mlp_pre",
    "mlp.hook_pre_linear": "mlp_pre_linear",
    "mlp.hook_post": "mlp_post",
    hook_mlp_out: "mlp_out",
    hook_resid_post: "resid_post",
  };
  const name = inBlock[m[2]];
  return name ? `${name}-${m[1]}` : null;
}

function hyperparameters(path: string, kv: GgufInspection["kv"], arch: Architecture, d: HookDims): NativeGradHParams {
  const num = (key: string, fallback: number) => {
    const v = kv[`${arch}.${key}`];
    return typeof v === "number" ? v : fallback;
  };
  const scaling = kv[`${arch}.rope.scaling.type`];
  if (typeof scaling === "string" && scaling !== "none" && scaling !== "linear") {
    throw new EngineError("unsupported-architecture", `Gradients support no "${scaling}" rope scaling yet (only none and linear); ${path} uses it.`);
  }
  const nCtxTrain = num("context_length", 2048);
  return {
    arch,
    nLayer: d.nLayers,
    nHead: d.nHeads,
    nHeadKv: d.nKvHeads,
    dHead: d.dHead,
    nRot: num("rope.dimension_count", d.dHead),
    nCtxOrig: num("rope.scaling.original_context_length", nCtxTrain),
    // llama.cpp's rope types: llama rotates adjacent pairs (NORM, 0), qwen2 the two halves (NEOX, 2).
    ropeMode: arch === "qwen2" ? 2 : 0,
    eps: arch === "gpt2" ? num("attention.layer_norm_epsilon", 1e-5) : num("attention.layer_norm_rms_epsilon", 1e-5),
    ropeBase: num("rope.freq_base", 10000),
    ropeScale: 1 / num("rope.scaling.factor", 1),
  };
}

/** The weights of one model in a ggml graph of their own, loaded once and reused by every call. */
export class GradientGraph {
  private native: NativeGradModel | null;

  /** `kv`: the file's metadata, as the model read it at load. */
  constructor(path: string, kv: GgufInspection["kv"], arch: Architecture, private readonly dims: HookDims) {
    if (!GRADIENT_ARCHITECTURES.includes(arch)) {
      throw new EngineError("unsupported-architecture", `Gradients are not implemented for architecture "${arch}". Supported: ${GRADIENT_ARCHITECTURES.join(", ")}.`);
    }
    const hp = hyperparameters(path, kv, arch, dims);
    this.native = new (nativeAddon().GradModel)(path, hp);
  }

  /** `entries`: the requested hooks' rows of the engine's hook table. */
  run(tokens: number[], options: GradientOptions, entries: HookEntry[], threads: number, abortFlag: Int32Array | null): GradientResult {
    if (!this.native) throw new BadArgumentError("The gradient graph was freed with its model.");
    const T = tokens.length;
    if (T === 0) throw new BadArgumentError("gradients needs at least one token of input.");
    const keys = entries.map((e) => {
      const key = graphName(e.name);
      if (!key) throw new BadArgumentError(`gradients cannot return ${e.name} yet. It serves: hook_embed, ln_final.hook_normalized and blocks.L.{hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out, attn.hook_q/k/v/rot_q/rot_k/pattern/z, ln1/ln2.hook_normalized, mlp.hook_pre/pre_linear/post}.`);
      return key;
    });
    const metric = this.nativeMetric(options.metric, T);
    const out = this.native.run(Int32Array.from(tokens), metric, keys, threads, abortFlag);
    if (out.status === 2) throw new InterruptedError();
    if (out.status !== 0) throw new EngineError("decode-failed", "The gradient graph's compute failed (ggml status error). model.logs() may say why.");
    const shape = (e: HookEntry) => (e.layout.kind === "attention" ? [e.inner[0], T, T] : [T, ...e.inner]);
    const activations = new Map<string, Tensor>();
    const gradients = new Map<string, Tensor>();
    entries.forEach((e, i) => {
      activations.set(e.name, new Tensor(shape(e), out.values[i], e.dims));
      gradients.set(e.name, new Tensor(shape(e), out.grads[i], e.dims));
    });
    return { value: out.value, logits: new Tensor([T, this.dims.nVocab], out.logits, ["pos", "vocab"]), activations, gradients };
  }

  free(): void {
    this.native?.free();
    this.native = null;
  }

  private nativeMetric(m: GradientMetric, T: number) {
    const V = this.dims.nVocab;
    if (typeof m !== "object" || m === null) throw new BadArgumentError('metric must be { kind: "logitDiff", correct, wrong } | { kind: "logProb", token } | { kind: "logits", weights }.');
    const p = m.pos ?? -1;
    if (!Number.isInteger(p) || p < -T || p >= T) throw new BadArgumentError(`metric.pos ${p} is outside this input of ${T} tokens (valid: ${-T}..${T - 1}).`);
    const pos = p < 0 ? T + p : p;
    const token = (what: string, t: unknown) => {
      if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t >= V) throw new OutOfRangeError(what, t as number, V);
      return t;
    };
    switch (m.kind) {
      case "logitDiff":
        return { kind: 0, a: token("Token id (correct)", m.correct), b: token("Token id (wrong)", m.wrong), pos, weights: null };
      case "logProb":
        return { kind: 1, a: token("Token id", m.token), b: 0, pos, weights: null };
      case "logits":
        if (!(m.weights instanceof Float32Array) || m.weights.length !== V) {
          throw new BadArgumentError(`metric.weights must be a Float32Array of n_vocab (${V}) values, got ${m.weights instanceof Float32Array ? `${m.weights.length} values` : typeof m.weights}.`);
        }
        return { kind: 2, a: 0, b: 0, pos, weights: m.weights };
      default:
        throw new BadArgumentError(`Unknown metric kind ${JSON.stringify((m as { kind: unknown }).kind)}: use "logitDiff", "logProb" or "logits".`);
    }
  }
}
