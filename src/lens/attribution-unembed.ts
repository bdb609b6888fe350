/**
 * The model's last step, as the attribution methods need it: the final norm (LayerNorm for gpt2,
 * RMSNorm for llama and qwen2), the unembedding, and a logit (or logit difference) as a direction in
 * the residual stream. With the norm's scale frozen at one position (as TransformerLens's
 * apply_ln_to_stack does), the logit is linear in the residual: logit = x · g + constant, so each
 * component written into the residual stream gets its own share.
 */
import { BadArgumentError, type Model, type Tensor } from "../engine";
import { metaNumber, readGGUFHeader } from "../gguf";
import type { TokenizedPrompt } from "./inputs";
import { resolveToken, type Metric, type TokenSpec } from "./metrics";

/** A token's logit, a logit difference [correct, wrong], or a steer.metrics.logitDiff of single tokens. */
export type Direction = TokenSpec | readonly [TokenSpec, TokenSpec] | Metric;

export interface FinalNorm {
  kind: "layernorm" | "rmsnorm";
  eps: number;
  w: Float32Array;
  /** LayerNorm's bias (gpt2) */
  b?: Float32Array;
}

export function finalNorm(model: Model): FinalNorm {
  const arch = model.config.arch;
  const layer = arch === "gpt2";
  // llama.cpp reads the epsilon from the file; the engine does not expose it, so read it the same way.
  const eps = metaNumber(readGGUFHeader(model.provenance.path), `${arch}.attention.${layer ? "layer_norm_epsilon" : "layer_norm_rms_epsilon"}`);
  const has = new Set(model.weightNames());
  return {
    kind: layer ? "layernorm" : "rmsnorm",
    eps,
    w: model.weight("ln_final.w").data,
    ...(has.has("ln_final.b") ? { b: model.weight("ln_final.b").data } : {}),
  };
}

/** The scale the norm divides `x` by: sqrt(var(x) + eps) (LayerNorm) or sqrt(mean(x²) + eps) (RMSNorm). */
export function normScale(norm: FinalNorm, x: Float32Array): number {
  const n = x.length;
  let mean = 0;
  if (norm.kind === "layernorm") {
    for (const v of x) mean += v;
    mean /= n;
  }
  let sq = 0;
  for (const v of x) sq += (v - mean) * (v - mean);
  return Math.sqrt(sq / n + norm.eps);
}

/** The normalized residual, with its own scale (what llama.cpp feeds the unembedding). */
export function applyNorm(norm: FinalNorm, x: Float32Array): Float32Array {
  const s = normScale(norm, x);
  let mean = 0;
  if (norm.kind === "layernorm") mean = x.reduce((a, v) => a + v, 0) / x.length;
  return Float32Array.from(x, (v, i) => ((v - mean) / s) * norm.w[i] + (norm.b ? norm.b[i] : 0));
}

/** Logits of a normalized residual: xn @ W_U + b_U. */
export function unembed(xn: Float32Array, WU: Tensor, bU: Float32Array | undefined): Float32Array {
  const [D, V] = WU.shape;
  const out = bU ? Float32Array.from(bU) : new Float32Array(V);
  const w = WU.data;
  for (let d = 0; d < D; d++) {
    const x = xn[d];
    if (x === 0) continue;
    const row = w.subarray(d * V, (d + 1) * V);
    for (let v = 0; v < V; v++) out[v] += x * row[v];
  }
  return out;
}

/** A direction resolved to token ids and signs: +1 for a token's logit, +1 / -1 for a difference. */
export interface TokenDirection {
  /** e.g. `logit(" Mary") - logit(" John")` */
  name: string;
  tokens: number[];
  signs: number[];
}

function isPair(d: Direction): d is readonly [TokenSpec, TokenSpec] {
  return Array.isArray(d);
}

export function resolveDirection(model: Model, d: Direction | undefined, prompt: TokenizedPrompt): TokenDirection {
  if (d === undefined) throw new BadArgumentError('direction is required: a token (" Mary"), a pair [correct, wrong] for a logit difference (e.g. [" Mary", " John"]), or steer.metrics.logitDiff(" Mary", " John").');
  if (typeof d === "string" || typeof d === "number") {
    return { name: `logit(${JSON.stringify(d)})`, tokens: [resolveToken(model, d, prompt)], signs: [1] };
  }
  if (isPair(d)) {
    if ((d as readonly unknown[]).length !== 2) throw new BadArgumentError(`direction as a list must be [correct, wrong] (two tokens), got ${(d as readonly unknown[]).length} entries.`);
    return { name: `logit(${JSON.stringify(d[0])}) - logit(${JSON.stringify(d[1])})`, tokens: [resolveToken(model, d[0], prompt), resolveToken(model, d[1], prompt)], signs: [1, -1] };
  }
  const spec = (d as Metric).spec;
  if (spec?.kind === "logitDiff" && !Array.isArray(spec.correct) && !Array.isArray(spec.wrong)) {
    return resolveDirection(model, [spec.correct as TokenSpec, spec.wrong as TokenSpec], prompt);
  }
  throw new BadArgumentError(
    `direction must be a token, a pair [correct, wrong], or a logitDiff metric of single tokens (a linear function of the logits); got ${spec ? `the metric ${(d as Metric).name}` : JSON.stringify(d)}.`,
  );
}

/** The value of a direction on a row of logits. */
export function directionValue(dir: TokenDirection, logits: Float32Array): number {
  return dir.tokens.reduce((a, t, i) => a + dir.signs[i] * logits[t], 0);
}

/** logit = x · g + constant at a residual whose norm scale is `scale`. */
export interface ResidualDirection {
  g: Float32Array;
  /** the final norm's bias term (ln_final.b · u) */
  normBias: number;
  /** the unembedding's bias term (b_U) */
  unembedBias: number;
}

/**
 * The direction in the residual stream that reads the logit (difference) out, with the final norm's
 * scale frozen at `scale`: g = w ⊙ u / scale, centred for LayerNorm (the mean it subtracts is linear).
 */
export function residualDirection(model: Model, norm: FinalNorm, dir: TokenDirection, scale: number, WU = model.weight("W_U")): ResidualDirection {
  const [D, V] = WU.shape;
  const u = new Float32Array(D);
  for (let d = 0; d < D; d++) for (let k = 0; k < dir.tokens.length; k++) u[d] += dir.signs[k] * WU.data[d * V + dir.tokens[k]];
  const g = Float32Array.from(u, (v, d) => (norm.w[d] * v) / scale);
  if (norm.kind === "layernorm") {
    const mean = g.reduce((a, v) => a + v, 0) / D;
    for (let d = 0; d < D; d++) g[d] -= mean;
  }
  const normBias = norm.b ? u.reduce((a, v, d) => a + v * norm.b![d], 0) : 0;
  const bU = model.weightNames().includes("b_U") ? model.weight("b_U").data : undefined;
  const unembedBias = bU ? dir.tokens.reduce((a, t, k) => a + dir.signs[k] * bU[t], 0) : 0;
  return { g, normBias, unembedBias };
}

/** Row `i` of a [rows, width] tensor, without copying. */
export function row(t: Tensor, i: number): Float32Array {
  const w = t.shape[t.shape.length - 1];
  return t.data.subarray(i * w, (i + 1) * w);
}
