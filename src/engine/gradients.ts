/**
 * Gradients of a metric on the logits with respect to activations, from the forward graph of our own
 * in native/src/grad.cpp (llama.cpp's training graph carries no gradient through K and V; see
 * /work/shared/notes/llama-cpp-gradients.md). Values and gradients come back under the engine's hook
 * names with runWithCache's shapes and dims. The graph can start at any layer, split the residual
 * stream per reader (gradient-only hooks), use relevance rules instead of the local gradient, and
 * run forward only with one hook replaced (patchedLogits, for exact patching sweeps).
 */
import { BadArgumentError, EngineError, InterruptedError, checkIndex } from "./errors";
import type { Architecture, HookDims, HookEntry } from "./hook-table";
import { nativeAddon, type GgufInspection, type NativeGradHParams, type NativeGradModel, type NativeGradRunOptions } from "./native";
import { Tensor } from "./tensor";

/** What the gradient is of: a logit difference, a log-probability, or a weighted sum of logits, at one position (default: the last; negative counts from the end). */
export type GradientMetric =
  | { kind: "logitDiff"; correct: number; wrong: number; pos?: number }
  | { kind: "logProb"; token: number; pos?: number }
  | { kind: "logits"; weights: Float32Array; pos?: number };

export interface GradientOptions {
  metric: GradientMetric;
  /**
   * hooks whose values and gradients to return: runWithCache's (but hook_attn_scores and logits), and
   * the gradient-only split hooks (see GRADIENT_ONLY_HOOKS)
   */
  names: readonly string[];
  /** Start the graph at layer `layer`'s hook_resid_pre with these values ([pos, d_model], pos = the input's length);
   *  the layers below are not computed, and their hooks (and hook_embed / hook_pos_embed) cannot be asked for.
   *  layer 0 with an interpolated embedding is how EAP-IG integrates gradients over inputs. */
  start?: { layer: number; resid: Tensor };
  /** "gradient" (default): the exact local gradient. "relevance": layer-wise relevance propagation rules
   *  in place of the local gradient (RelP, Jafari et al. 2025; the rules are stated in native/src/grad.cpp's run).
   *  Forward values are the same. Under it q, k, rot_q, rot_k, pattern, hook_q_input and hook_k_input get zero. */
  rule?: "gradient" | "relevance";
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
 * Hooks only gradients() serves, per layer (not in runWithCache): the residual stream as read by one
 * reader alone, so each one's gradient is that reader's path alone (TransformerLens's use_split_qkv_input
 * and use_hook_mlp_in). Values: every row equals hook_resid_pre (q/k/v) or hook_resid_mid (mlp_in).
 * The split part of the graph is built only for the layers asked for (a layer split for q/k/v has no
 * single ln1.hook_normalized: asking for both is an error).
 * - hook_q_input [pos, head, d_model]: query head h's copy (its norm, its W_Q rows, bias, rotary).
 * - hook_k_input, hook_v_input [pos, kv_head, d_model]: per KV head (n_kv_heads rows under grouped-query attention).
 * - hook_mlp_in [pos, d_model]: the MLP's copy of hook_resid_mid (ln2 and the MLP).
 * Over one layer: sum of q/k/v_input's gradients = grad(resid_pre) - grad(resid_mid), and
 * grad(mlp_in) = grad(resid_mid) - grad(resid_post).
 */
export const GRADIENT_ONLY_HOOKS = ["hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in"] as const;

/** The engine-style entry of a gradient-only hook (`blocks.L.hook_q_input` etc.), or null for any other name or layer. */
export function gradientOnlyEntry(name: string, d: HookDims): HookEntry | null {
  const m = /^blocks\.(\d+)\.(hook_[qkv]_input|hook_mlp_in)$/.exec(name);
  if (!m || Number(m[1]) >= d.nLayers) return null;
  const layer = Number(m[1]);
  const rows = { kind: "rows" as const };
  if (m[2] === "hook_mlp_in") return { name, layer, dims: ["pos", "d_model"], inner: [d.dModel], tensor: null, layout: rows };
  const readers = m[2] === "hook_q_input" ? d.nHeads : d.nKvHeads;
  return { name, layer, dims: ["pos", "head", "d_model"], inner: [readers, d.dModel], tensor: null, layout: rows };
}

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
    hook_q_input: "q_input",
    hook_k_input: "k_input",
    hook_v_input: "v_input",
    hook_mlp_in: "mlp_in",
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
      if (!key) throw new BadArgumentError(`gradients cannot return ${e.name} yet. It serves: hook_embed, ln_final.hook_normalized and blocks.L.{hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out, attn.hook_q/k/v/rot_q/rot_k/pattern/z, ln1/ln2.hook_normalized, mlp.hook_pre/pre_linear/post, hook_q_input/k_input/v_input/mlp_in}.`);
      return key;
    });
    const metric = this.nativeMetric(options.metric, T);
    const out = this.native.run(Int32Array.from(tokens), metric, keys, threads, abortFlag, this.runOptions(options, entries, T));
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

  /**
   * Engine-internal, forward only (no gradients): the last position's logits of one input in
   * `values.length` variants, each with `hook`'s whole value replaced by values[i] (runWithCache's
   * shape; a [pos, ...] hook at layer start.layer or above), all in one graph started at
   * start.layer's hook_resid_pre. An exact patching sweep this way skips the layers below the patched
   * one and everything the replaced value alone depended on. Returns [variants, vocab].
   */
  patchedLogits(start: { layer: number; resid: Tensor }, hook: HookEntry, values: Tensor[], threads: number, abortFlag: Int32Array | null): Tensor {
    if (!this.native) throw new BadArgumentError("The gradient graph was freed with its model.");
    const key = graphName(hook.name);
    if (!key || hook.layout.kind === "attention" || hook.layer === null || hook.layer < start.layer) {
      throw new BadArgumentError(`patchedLogits replaces a [pos, ...] hook at layer ${start.layer} or above, not ${hook.name}.`);
    }
    const [T, D] = start.resid.shape;
    if (D !== this.dims.dModel || values.length === 0) throw new BadArgumentError(`patchedLogits needs a [pos, ${this.dims.dModel}] start and at least one variant.`);
    const size = T * hook.inner.reduce((a, b) => a * b, 1);
    const all = new Float32Array(size * values.length);
    values.forEach((v, i) => {
      if (v.size !== size) throw new BadArgumentError(`variant ${i} of ${hook.name} has ${v.size} values, expected [${[T, ...hook.inner].join(", ")}].`);
      all.set(v.data, i * size);
    });
    const out = this.native.patched(T, start.layer, start.resid.data, key, all, values.length, threads, abortFlag);
    if (out.status === 2) throw new InterruptedError();
    if (out.status !== 0 || !out.logits) throw new EngineError("decode-failed", "The patched graph's compute failed (ggml status error).");
    return new Tensor([values.length, this.dims.nVocab], out.logits, ["variant", "vocab"]);
  }

  free(): void {
    this.native?.free();
    this.native = null;
  }

  /** The start, the rule and the split layers, checked against the requested hooks. */
  private runOptions(options: GradientOptions, entries: HookEntry[], T: number): NativeGradRunOptions {
    const rule = options.rule ?? "gradient";
    if (rule !== "gradient" && rule !== "relevance") throw new BadArgumentError(`rule must be "gradient" or "relevance", got ${JSON.stringify(rule)}.`);
    const splitAttn = new Set<number>();
    const splitMlp = new Set<number>();
    for (const e of entries) {
      if (/hook_[qkv]_input$/.test(e.name)) splitAttn.add(e.layer!);
      if (e.name.endsWith("hook_mlp_in")) splitMlp.add(e.layer!);
    }
    for (const e of entries) {
      if (e.name.endsWith("ln1.hook_normalized") && splitAttn.has(e.layer!)) {
        throw new BadArgumentError(`${e.name} cannot come with the split hooks of layer ${e.layer} (hook_q/k/v_input): that layer normalizes each reader's copy apart. Ask for them in two calls.`);
      }
    }
    let start = 0;
    let resid: Float32Array | null = null;
    if (options.start !== undefined) {
      const { layer, resid: r } = options.start ?? {};
      const L = this.dims.nLayers;
      checkIndex("start.layer", layer, L, `this model has ${L} layers`);
      const D = this.dims.dModel;
      if (!(r instanceof Tensor) || r.shape.length !== 2 || r.shape[0] !== T || r.shape[1] !== D) {
        const got = r instanceof Tensor ? `a tensor of shape [${r.shape.join(", ")}]` : typeof r;
        throw new BadArgumentError(`start.resid must be a [pos, d_model] = [${T}, ${D}] Tensor (one row per input token), e.g. runWithCache's blocks.${layer}.hook_resid_pre of this input; got ${got}.`);
      }
      for (const e of entries) {
        if (e.name === "hook_embed" || e.name === "hook_pos_embed" || (e.layer !== null && e.layer < layer)) {
          throw new BadArgumentError(`${e.name} lies below the start layer ${layer}: a graph started at blocks.${layer}.hook_resid_pre computes nothing before it. Ask for hooks of layers ${layer} and up, or start lower.`);
        }
      }
      start = layer;
      resid = r.data;
    }
    return { start, resid, relevance: rule === "relevance", splitAttn: Int32Array.from(splitAttn), splitMlp: Int32Array.from(splitMlp) };
  }

  private nativeMetric(m: GradientMetric, T: number) {
    const V = this.dims.nVocab;
    if (typeof m !== "object" || m === null) throw new BadArgumentError('metric must be { kind: "logitDiff", correct, wrong } | { kind: "logProb", token } | { kind: "logits", weights }.');
    const p = m.pos ?? -1;
    if (!Number.isInteger(p) || p < -T || p >= T) throw new BadArgumentError(`metric.pos ${p} is outside this input of ${T} tokens (valid: ${-T}..${T - 1}).`);
    const pos = p < 0 ? T + p : p;
    const token = (what: string, t: unknown) => checkIndex(what, t, V, `the vocabulary has ${V} tokens`);
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
