// The reference forward pass: plain TypeScript, double-precision accumulation, written from the
// llama.cpp graph builders (src/models/{llama,qwen2,gpt2}.cpp, llama-graph.cpp) and ggml op semantics.
// Activations carry TransformerLens hook names; hooks may read or replace each one.
import { f16BitsToF32, f32ToF16Bits } from "../../src/gguf/index";
import type { RefLayer, RefModel } from "./model";

/** Activations are Float32Array, or Float64Array with ForwardOptions.f64. */
export type Floats = Float32Array | Float64Array;

export interface Tensor<A extends Floats = Float32Array> {
  shape: number[];
  data: A;
}

/** Return a tensor (same shape) to replace the activation, or edit t.data in place and return nothing. */
export type Hook<A extends Floats = Float32Array> = (t: Tensor<A>, name: string) => Tensor<A> | void;
export type Hooks<A extends Floats = Float32Array> = Record<string, Hook<A>>;

export interface ForwardOptions<A extends Floats = Float32Array> {
  hooks?: Hooks<A>;
  /** Keep every activation in the returned cache (default true). */
  cache?: boolean;
  /**
   * Round what llama.cpp rounds to F16 with its default F16 KV cache: K and V, and Q and the attention
   * pattern where they meet those in a matrix product. Off by default: the plain reference is exact.
   */
  emulateF16?: boolean;
  /** GELU as llama.cpp's CPU backend computes it: through a table indexed by the F16 input, F16 output. */
  ggmlGelu?: boolean;
  /**
   * Keep every activation in double precision instead of rounding it to F32 (default false): central
   * differences of this forward pass then measure derivatives to far below F32's resolution.
   */
  f64?: boolean;
}

export interface ForwardResult<A extends Floats = Float32Array> {
  /** [pos, vocab] */
  logits: Tensor<A>;
  /** Every activation by hook name (when options.cache is not false). */
  cache: Map<string, Tensor<A>>;
}

type Alloc = (length: number) => Floats;

const f16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));

/** y[n, out] = x[n, in] W^T + b, with W stored as out rows of in values (GGUF dims [in, out]). */
function linear(alloc: Alloc, x: Floats, n: number, inDim: number, w: Float32Array, outDim: number, b?: Float32Array): Floats {
  if (w.length !== inDim * outDim) throw new Error(`weight has ${w.length} values, expected ${inDim}x${outDim}`);
  const y = alloc(n * outDim);
  for (let i = 0; i < n; i++) {
    const xo = i * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let s = 0;
      for (let j = 0; j < inDim; j++) s += x[xo + j] * w[wo + j];
      y[i * outDim + o] = s + (b ? b[o] : 0);
    }
  }
  return y;
}

/** The row at offset `o`: its mean (0 for RMSNorm) and 1/sqrt(var + eps) (the mean square for RMSNorm). */
export function rowNormStats(x: ArrayLike<number>, o: number, d: number, eps: number, rms: boolean): { mean: number; scale: number } {
  let mean = 0;
  if (!rms) {
    for (let j = 0; j < d; j++) mean += x[o + j];
    mean /= d;
  }
  let sq = 0;
  for (let j = 0; j < d; j++) sq += (x[o + j] - mean) ** 2;
  return { mean, scale: 1 / Math.sqrt(sq / d + eps) };
}

function norm(alloc: Alloc, x: Floats, n: number, d: number, eps: number, rms: boolean, w: Float32Array, b?: Float32Array): Floats {
  const y = alloc(n * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const { mean, scale } = rowNormStats(x, o, d, eps, rms);
    for (let j = 0; j < d; j++) y[o + j] = (x[o + j] - mean) * scale * w[j] + (b ? b[j] : 0);
  }
  return y;
}

function gelu(x: number, table: boolean): number {
  const g = (v: number) => 0.5 * v * (1 + Math.tanh(0.7978845608028654 * v * (1 + 0.044715 * v * v)));
  if (!table) return g(x);
  if (x <= -10) return 0;
  if (x >= 10) return x;
  return f16(g(f16(x)));
}

const silu = (x: number) => x / (1 + Math.exp(-x));

/**
 * Rotates [pos, heads, dHead] in place, as ggml_rope_ext with freq_scale 1 and no extension. `sign` -1
 * rotates back by the same angles: the transpose, which is rotary's backward pass.
 */
export function rope(x: Floats, nPos: number, nHeads: number, dHead: number, nRot: number, base: number, neox: boolean, sign: 1 | -1 = 1) {
  const half = nRot / 2;
  for (let p = 0; p < nPos; p++) {
    for (let h = 0; h < nHeads; h++) {
      const o = (p * nHeads + h) * dHead;
      for (let i = 0; i < half; i++) {
        const theta = sign * p * Math.pow(base, (-2 * i) / nRot);
        const c = Math.cos(theta), s = Math.sin(theta);
        const a = neox ? o + i : o + 2 * i;
        const b = neox ? o + i + half : o + 2 * i + 1;
        const x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
      }
    }
  }
}

export function forward(model: RefModel, tokens: readonly number[], options?: ForwardOptions & { f64?: false }): ForwardResult;
export function forward(model: RefModel, tokens: readonly number[], options: ForwardOptions<Float64Array> & { f64: true }): ForwardResult<Float64Array>;
export function forward(model: RefModel, tokens: readonly number[], options: ForwardOptions | ForwardOptions<Float64Array> = {}): ForwardResult<Floats> {
  const { config: c } = model;
  const hooks = (options.hooks ?? {}) as Hooks<Floats>;
  const alloc: Alloc = options.f64 ? (length) => new Float64Array(length) : (length) => new Float32Array(length);
  const each = (length: number, f: (i: number) => number): Floats => {
    const y = alloc(length);
    for (let i = 0; i < length; i++) y[i] = f(i);
    return y;
  };
  const keep = options.cache !== false;
  const emu = options.emulateF16 === true;
  const tableGelu = options.ggmlGelu === true;
  const cache = new Map<string, Tensor<Floats>>();
  const n = tokens.length;
  if (n === 0) throw new Error("forward needs at least one token");
  if (n > c.ctx) throw new Error(`${n} tokens exceed the model's context of ${c.ctx}`);
  for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= c.vocab) throw new Error(`token id ${t} is out of range 0..${c.vocab - 1}`);
  const known = new Set(hookNames(model));
  for (const name of Object.keys(hooks)) if (!known.has(name)) throw new Error(`unknown hook name ${name}`);

  const point = (name: string, shape: number[], data: Floats): Floats => {
    let t: Tensor<Floats> = { shape, data };
    const hook = hooks[name];
    if (hook) {
      const r = hook(t, name);
      if (r) {
        if (r.data.length !== data.length) throw new Error(`hook ${name} returned ${r.data.length} values, expected ${data.length}`);
        t = { shape, data: r.data };
      }
    }
    if (keep) cache.set(name, { shape, data: t.data.slice() });
    return t.data;
  };

  const D = c.dModel;
  const embed = alloc(n * D);
  tokens.forEach((tok, i) => embed.set(model.tokEmbd.subarray(tok * D, tok * D + D), i * D));
  let resid = point("hook_embed", [n, D], embed);
  if (model.posEmbd) {
    const posEmbd = model.posEmbd;
    const pos = point("hook_pos_embed", [n, D], each(n * D, (i) => posEmbd[i]));
    const tok = resid;
    resid = each(n * D, (i) => tok[i] + pos[i]);
  }
  const rms = c.arch !== "gpt2";
  for (let l = 0; l < c.nLayer; l++) {
    const L: RefLayer = model.layers[l];
    const p = `blocks.${l}.`;
    resid = point(p + "hook_resid_pre", [n, D], resid);
    const x = point(p + "ln1.hook_normalized", [n, D], norm(alloc, resid, n, D, c.eps, rms, L.lnW, L.lnB));
    const attnOut = attention(model, l, x, n, p, point, emu, alloc);
    const pre = resid;
    const mid = point(p + "hook_resid_mid", [n, D], each(n * D, (i) => pre[i] + attnOut[i]));
    const x2 = point(p + "ln2.hook_normalized", [n, D], norm(alloc, mid, n, D, c.eps, rms, L.ln2W, L.ln2B));
    const F = c.dMlp;
    let post: Floats;
    if (L.wGate) {
      const gate = point(p + "mlp.hook_pre", [n, F], linear(alloc, x2, n, D, L.wGate, F, L.bGate));
      const up = point(p + "mlp.hook_pre_linear", [n, F], linear(alloc, x2, n, D, L.wUp, F, L.bUp));
      post = point(p + "mlp.hook_post", [n, F], each(n * F, (i) => silu(gate[i]) * up[i]));
    } else {
      const pre = point(p + "mlp.hook_pre", [n, F], linear(alloc, x2, n, D, L.wUp, F, L.bUp));
      post = point(p + "mlp.hook_post", [n, F], each(n * F, (i) => gelu(pre[i], tableGelu)));
    }
    const mlpOut = point(p + "hook_mlp_out", [n, D], linear(alloc, post, n, F, L.wDown, D, L.bDown));
    resid = point(p + "hook_resid_post", [n, D], each(n * D, (i) => mid[i] + mlpOut[i]));
  }
  const xf = point("ln_final.hook_normalized", [n, D], norm(alloc, resid, n, D, c.eps, rms, model.lnFW, model.lnFB));
  const logits = linear(alloc, xf, n, D, model.out, c.vocab, model.outB);
  return { logits: { shape: [n, c.vocab], data: logits }, cache };
}

type Point = (name: string, shape: number[], data: Floats) => Floats;

function attention(model: RefModel, l: number, x: Floats, n: number, p: string, point: Point, emu: boolean, alloc: Alloc): Floats {
  const c = model.config;
  const L = model.layers[l];
  const { dModel: D, nHead: H, nHeadKv: HK, dHead: Dh } = c;
  const q = point(p + "attn.hook_q", [n, H, Dh], linear(alloc, x, n, D, L.wq, H * Dh, L.bq));
  const k = point(p + "attn.hook_k", [n, HK, Dh], linear(alloc, x, n, D, L.wk, HK * Dh, L.bk));
  let v = point(p + "attn.hook_v", [n, HK, Dh], linear(alloc, x, n, D, L.wv, HK * Dh, L.bv));
  let rq = q, rk = k;
  if (c.rope !== "none") {
    rq = q.slice();
    rk = k.slice();
    rope(rq, n, H, Dh, c.nRot, c.ropeBase, c.rope === "neox");
    rope(rk, n, HK, Dh, c.nRot, c.ropeBase, c.rope === "neox");
    rq = point(p + "attn.hook_rot_q", [n, H, Dh], rq);
    rk = point(p + "attn.hook_rot_k", [n, HK, Dh], rk);
  }
  if (emu) {
    rq = rq.map(f16);
    rk = rk.map(f16);
    v = v.map(f16);
  }
  const scale = 1 / Math.sqrt(Dh);
  const group = H / HK;
  const scores = alloc(H * n * n).fill(-Infinity);
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        const qo = (i * H + h) * Dh, ko = (j * HK + kh) * Dh;
        for (let d = 0; d < Dh; d++) s += rq[qo + d] * rk[ko + d];
        scores[(h * n + i) * n + j] = s * scale;
      }
    }
  }
  const sc = point(p + "attn.hook_attn_scores", [H, n, n], scores);
  const pattern = alloc(H * n * n);
  for (let r = 0; r < H * n; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, sc[r * n + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += sc[r * n + j] === -Infinity ? 0 : Math.exp(sc[r * n + j] - max);
    for (let j = 0; j < n; j++) pattern[r * n + j] = sc[r * n + j] === -Infinity ? 0 : Math.exp(sc[r * n + j] - max) / sum;
  }
  let pat = point(p + "attn.hook_pattern", [H, n, n], pattern);
  if (emu) pat = pat.map(f16);
  const z = alloc(n * H * Dh);
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < n; i++) {
      const zo = (i * H + h) * Dh;
      for (let j = 0; j < n; j++) {
        const a = pat[(h * n + i) * n + j];
        if (a === 0) continue;
        const vo = (j * HK + kh) * Dh;
        for (let d = 0; d < Dh; d++) z[zo + d] += a * v[vo + d];
      }
    }
  }
  const zz = point(p + "attn.hook_z", [n, H, Dh], z);
  return point(p + "hook_attn_out", [n, D], linear(alloc, zz, n, H * Dh, L.wo, D, L.bo));
}

/** Every hook name this model's forward pass offers, in the order they run. */
export function hookNames(model: RefModel): string[] {
  const c = model.config;
  const names = ["hook_embed", ...(model.posEmbd ? ["hook_pos_embed"] : [])];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `blocks.${l}.`;
    names.push(p + "hook_resid_pre", p + "ln1.hook_normalized", p + "attn.hook_q", p + "attn.hook_k", p + "attn.hook_v");
    if (c.rope !== "none") names.push(p + "attn.hook_rot_q", p + "attn.hook_rot_k");
    names.push(p + "attn.hook_attn_scores", p + "attn.hook_pattern", p + "attn.hook_z", p + "hook_attn_out", p + "hook_resid_mid", p + "ln2.hook_normalized", p + "mlp.hook_pre");
    if (model.layers[l].wGate) names.push(p + "mlp.hook_pre_linear");
    names.push(p + "mlp.hook_post", p + "hook_mlp_out", p + "hook_resid_post");
  }
  names.push("ln_final.hook_normalized");
  return names;
}

/** Logits of one position as a plain array. */
export function logitsAt(result: ForwardResult, pos: number): Float32Array {
  const V = result.logits.shape[1];
  const p = pos < 0 ? result.logits.shape[0] + pos : pos;
  return result.logits.data.subarray(p * V, p * V + V);
}

export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Greedy decoding: appends the most likely token `steps` times (recomputing the whole prefix each step). */
export function generateGreedy(model: RefModel, tokens: readonly number[], steps: number, options: Omit<ForwardOptions, "cache" | "f64"> = {}): number[] {
  const out = [...tokens];
  for (let s = 0; s < steps; s++) {
    const r = forward(model, out, { ...options, cache: false });
    out.push(argmax(logitsAt(r, -1)));
  }
  return out.slice(tokens.length);
}
