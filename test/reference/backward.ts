// The reference backward pass: the forward pass of forward.ts (exact GELU, no F16 rounding), then
// reverse mode written out by hand, accumulated in double precision from the cached activations.
// It is what the engine's gradient graph (native/src/grad.cpp) is checked against, so it shares
// nothing with it: every local derivative below is derived from forward.ts's formulas.
import { forward, rope, rowNormStats, type ForwardOptions, type Tensor } from "./forward";
import type { RefModel } from "./model";

/** The same three metrics as the engine's GradientMetric, at one position (default -1: the last). */
export type RefMetric =
  | { kind: "logitDiff"; correct: number; wrong: number; pos?: number }
  | { kind: "logProb"; token: number; pos?: number }
  | { kind: "logits"; weights: ArrayLike<number>; pos?: number };

export interface BackwardOptions {
  /** Begin at layer `layer`'s hook_resid_pre with these values ([pos, d_model]); nothing below it is returned. */
  start?: { layer: number; resid: { shape: readonly number[]; data: ArrayLike<number> } };
  /**
   * "gradient" (default): the exact gradient. "relevance": the same forward, a backward with these
   * factors held constant: every norm's denominator (LayerNorm's centering stays), the attention
   * pattern (detached: it and everything before it on the q and k side, scores, rot_q/rot_k, q/k and
   * their split hooks, get 0), the activation ratio act(x)/x (SiLU: sigmoid(x); GELU: sigmoid(2u)),
   * and the gated product silu(gate) * up split half to each factor.
   */
  rule?: "gradient" | "relevance";
}

export interface BackwardResult {
  value: number;
  /** [pos, vocab] */
  logits: Tensor;
  /** Forward values by hook name, with the split hooks (hook_q_input, hook_k_input, hook_v_input, hook_mlp_in); rounded to F32 like the engine's. */
  cache: Map<string, Tensor>;
  /** d value / d activation by hook name, same shapes as the cache (computed in double, returned as F32). */
  grads: Map<string, Tensor>;
}

/** dx[n, in] = dy[n, out] W for outputs outFrom..outTo (W: out rows of `inDim` values); rows of dy that are all 0 are skipped. */
function linearBack(dy: Float64Array, n: number, outDim: number, w: Float32Array, inDim: number, outFrom = 0, outTo = outDim): Float64Array {
  const dx = new Float64Array(n * inDim);
  for (let i = 0; i < n; i++) {
    for (let o = outFrom; o < outTo; o++) {
      const g = dy[i * outDim + o];
      if (g === 0) continue;
      const wo = o * inDim, xo = i * inDim;
      for (let j = 0; j < inDim; j++) dx[xo + j] += g * w[wo + j];
    }
  }
  return dx;
}

/**
 * Backward of forward.ts's norm: y = (x - mean) s w + b with s = 1/sqrt(var + eps) (RMSNorm: no mean).
 * Exact: dx = s (g - mean(g) - x̂ mean(g x̂)) with g = dy w, x̂ = (x - mean) s (RMSNorm: no mean(g)).
 * Relevance: s constant, so dx = s (g - mean(g)) (RMSNorm: s g).
 */
function normBack(dy: Float64Array, x: Float64Array, n: number, d: number, eps: number, rms: boolean, w: Float32Array, relevance: boolean): Float64Array {
  const dx = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const { mean, scale: s } = rowNormStats(x, o, d, eps, rms);
    let gMean = 0, gxMean = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j] * w[j];
      gMean += g;
      gxMean += g * (x[o + j] - mean) * s;
    }
    gMean = rms ? 0 : gMean / d;
    gxMean = relevance ? 0 : gxMean / d;
    for (let j = 0; j < d; j++) dx[o + j] = s * (dy[o + j] * w[j] - gMean - (x[o + j] - mean) * s * gxMean);
  }
  return dx;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const GELU_K = Math.sqrt(2 / Math.PI);

/** The metric's value and its gradient with respect to one row of logits. */
function metricGrad(model: RefModel, logits: Tensor<Float64Array>, metric: RefMetric): { value: number; pos: number; dRow: Float64Array } {
  const [n, V] = logits.shape;
  const p = metric.pos ?? -1;
  if (!Number.isInteger(p) || p < -n || p >= n) throw new Error(`metric.pos ${p} is outside this input of ${n} tokens (valid: ${-n}..${n - 1})`);
  const pos = p < 0 ? n + p : p;
  const row = logits.data.subarray(pos * V, pos * V + V);
  const token = (what: string, t: number) => {
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`${what} ${t} is out of range 0..${V - 1} for ${model.config.arch}'s vocabulary`);
    return t;
  };
  const dRow = new Float64Array(V);
  if (metric.kind === "logitDiff") {
    const a = token("metric.correct", metric.correct), b = token("metric.wrong", metric.wrong);
    dRow[a] += 1;
    dRow[b] -= 1;
    return { value: row[a] - row[b], pos, dRow };
  }
  if (metric.kind === "logProb") {
    const t = token("metric.token", metric.token);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    for (let v = 0; v < V; v++) dRow[v] = -Math.exp(row[v] - lse);
    dRow[t] += 1;
    return { value: row[t] - lse, pos, dRow };
  }
  if (metric.kind === "logits") {
    if (metric.weights.length !== V) throw new Error(`metric.weights has ${metric.weights.length} values; it needs one per vocabulary entry (${V})`);
    let value = 0;
    for (let v = 0; v < V; v++) {
      dRow[v] = metric.weights[v];
      value += row[v] * metric.weights[v];
    }
    return { value, pos, dRow };
  }
  throw new Error(`unknown metric kind ${JSON.stringify((metric as { kind: unknown }).kind)}: use "logitDiff", "logProb" or "logits"`);
}

/** The forward pass, then the gradient of `metric` at every hook (see BackwardResult). */
export function backward(model: RefModel, tokens: readonly number[], metric: RefMetric, options: BackwardOptions = {}): BackwardResult {
  const c = model.config;
  const { dModel: D, nHead: H, nHeadKv: HK, dHead: Dh, dMlp: F } = c;
  const n = tokens.length;
  const relevance = options.rule === "relevance";
  if (options.rule !== undefined && options.rule !== "gradient" && !relevance) throw new Error(`rule must be "gradient" or "relevance", not ${JSON.stringify(options.rule)}`);
  const first = options.start?.layer ?? 0;
  const fwdOptions: ForwardOptions<Float64Array> & { f64: true } = { f64: true };
  if (options.start) {
    const { layer, resid } = options.start;
    if (!Number.isInteger(layer) || layer < 0 || layer >= c.nLayer) throw new Error(`start.layer ${layer} is out of range 0..${c.nLayer - 1}`);
    if (resid.shape.length !== 2 || resid.shape[0] !== n || resid.shape[1] !== D || resid.data.length !== n * D) {
      throw new Error(`start.resid must be [${n}, ${D}] (pos, d_model) for ${n} tokens, got [${resid.shape.join(", ")}] with ${resid.data.length} values`);
    }
    fwdOptions.hooks = { [`blocks.${layer}.hook_resid_pre`]: (t) => ({ shape: t.shape, data: Float64Array.from(resid.data) }) };
  }
  const fwd = forward(model, tokens, fwdOptions);
  const cache = fwd.cache;
  if (options.start) {
    // What lies below the start is not part of this computation.
    for (const name of [...cache.keys()]) {
      const m = /^blocks\.(\d+)\./.exec(name);
      if (m ? Number(m[1]) < first : name !== "ln_final.hook_normalized") cache.delete(name);
    }
  }
  const act = (name: string) => cache.get(name)!.data;
  const grads = new Map<string, Tensor>();
  const put = (name: string, g: Float64Array) => grads.set(name, { shape: [...cache.get(name)!.shape], data: Float32Array.from(g) });

  const { value, pos, dRow } = metricGrad(model, fwd.logits, metric);
  const rms = c.arch !== "gpt2";
  const last = `blocks.${c.nLayer - 1}.hook_resid_post`;
  // logits[pos] = xf[pos] out^T (+ bias): only that row of xf gets a gradient.
  const dxf = new Float64Array(n * D);
  dxf.set(linearBack(dRow, 1, c.vocab, model.out, D), pos * D);
  put("ln_final.hook_normalized", dxf);
  let dResid = normBack(dxf, act(last), n, D, c.eps, rms, model.lnFW, relevance);

  for (let l = c.nLayer - 1; l >= first; l--) {
    const L = model.layers[l];
    const p = `blocks.${l}.`;
    put(p + "hook_resid_post", dResid);
    put(p + "hook_mlp_out", dResid);
    const dPost = linearBack(dResid, n, D, L.wDown, F);
    put(p + "mlp.hook_post", dPost);
    let dLn2: Float64Array;
    if (L.wGate) {
      const gate = act(p + "mlp.hook_pre"), up = act(p + "mlp.hook_pre_linear");
      const dGate = new Float64Array(n * F), dUp = new Float64Array(n * F);
      const half = relevance ? 0.5 : 1;
      for (let i = 0; i < n * F; i++) {
        const g = gate[i], sg = sigmoid(g);
        dUp[i] = half * dPost[i] * g * sg;
        // silu'(g) = sg (1 + g (1 - sg)); identity rule: silu(g) = g * sg with sg constant
        dGate[i] = half * dPost[i] * up[i] * (relevance ? sg : sg * (1 + g * (1 - sg)));
      }
      put(p + "mlp.hook_pre", dGate);
      put(p + "mlp.hook_pre_linear", dUp);
      dLn2 = linearBack(dGate, n, F, L.wGate, D);
      const viaUp = linearBack(dUp, n, F, L.wUp, D);
      for (let i = 0; i < dLn2.length; i++) dLn2[i] += viaUp[i];
    } else {
      // gelu(x) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
      const pre = act(p + "mlp.hook_pre");
      const dPre = new Float64Array(n * F);
      for (let i = 0; i < n * F; i++) {
        const x = pre[i], s = sigmoid(2 * GELU_K * (x + 0.044715 * x * x * x));
        dPre[i] = dPost[i] * (relevance ? s : s + x * s * (1 - s) * 2 * GELU_K * (1 + 3 * 0.044715 * x * x));
      }
      put(p + "mlp.hook_pre", dPre);
      dLn2 = linearBack(dPre, n, F, L.wUp, D);
    }
    put(p + "ln2.hook_normalized", dLn2);
    const mid = act(p + "hook_resid_mid");
    const dMlpIn = normBack(dLn2, mid, n, D, c.eps, rms, L.ln2W, relevance);
    cache.set(p + "hook_mlp_in", { shape: [n, D], data: mid.slice() });
    put(p + "hook_mlp_in", dMlpIn);
    const dMid = dResid.map((g, i) => g + dMlpIn[i]);
    put(p + "hook_resid_mid", dMid);
    put(p + "hook_attn_out", dMid);
    const dz = linearBack(dMid, n, D, L.wo, H * Dh);
    put(p + "attn.hook_z", dz);
    const { dq, dk, dv } = attentionBack(model, l, dz, act, put, relevance);

    // Each reader of the residual stream separately (the split hooks), then their sum.
    const resid = act(p + "hook_resid_pre");
    const dResidPre = dMid.slice();
    const reader = (name: string, heads: number, d: Float64Array, w: Float32Array) => {
      const values = new Float64Array(n * heads * D);
      const g = new Float64Array(n * heads * D);
      for (let h = 0; h < heads; h++) {
        const dh = normBack(linearBack(d, n, heads * Dh, w, D, h * Dh, (h + 1) * Dh), resid, n, D, c.eps, rms, L.lnW, relevance);
        for (let i = 0; i < n; i++) {
          const o = (i * heads + h) * D;
          values.set(resid.subarray(i * D, i * D + D), o);
          for (let j = 0; j < D; j++) {
            g[o + j] = dh[i * D + j];
            dResidPre[i * D + j] += dh[i * D + j];
          }
        }
      }
      cache.set(p + name, { shape: [n, heads, D], data: values });
      put(p + name, g);
    };
    reader("hook_q_input", H, dq, L.wq);
    reader("hook_k_input", HK, dk, L.wk);
    reader("hook_v_input", HK, dv, L.wv);
    const dLn1 = linearBack(dq, n, H * Dh, L.wq, D);
    for (const [d, w] of [[dk, L.wk], [dv, L.wv]] as const) {
      const via = linearBack(d, n, HK * Dh, w, D);
      for (let i = 0; i < dLn1.length; i++) dLn1[i] += via[i];
    }
    put(p + "ln1.hook_normalized", dLn1);
    put(p + "hook_resid_pre", dResidPre);
    dResid = dResidPre;
  }
  if (!options.start) {
    put("hook_embed", dResid);
    if (model.posEmbd) put("hook_pos_embed", dResid);
  }
  const f32 = (t: Tensor<Float64Array>): Tensor => ({ shape: t.shape, data: Float32Array.from(t.data) });
  return { value, logits: f32(fwd.logits), cache: new Map([...cache].map(([name, t]) => [name, f32(t)])), grads };
}

/** Backward of forward.ts's attention from d(hook_z): the gradients at q, k, v (before rotary), and the hooks between. */
function attentionBack(
  model: RefModel,
  l: number,
  dz: Float64Array,
  act: (name: string) => Float64Array,
  put: (name: string, g: Float64Array) => void,
  relevance: boolean,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const c = model.config;
  const { nHead: H, nHeadKv: HK, dHead: Dh } = c;
  const p = `blocks.${l}.attn.`;
  const n = act(p + "hook_z").length / (H * Dh);
  const rotary = c.rope !== "none";
  const rq = act(p + (rotary ? "hook_rot_q" : "hook_q")), rk = act(p + (rotary ? "hook_rot_k" : "hook_k"));
  const v = act(p + "hook_v"), pat = act(p + "hook_pattern");
  const group = H / HK;
  const scale = 1 / Math.sqrt(Dh);
  const dPat = new Float64Array(H * n * n), dScores = new Float64Array(H * n * n);
  const dq = new Float64Array(n * H * Dh), dk = new Float64Array(n * HK * Dh), dv = new Float64Array(n * HK * Dh);
  for (let h = 0; h < H; h++) {
    // A KV head is read by `group` query heads: their gradients add.
    const kh = Math.floor(h / group);
    for (let i = 0; i < n; i++) {
      const zo = (i * H + h) * Dh, r = (h * n + i) * n;
      // d pattern at every key, masked ones included: the gradient with respect to that entry's value.
      for (let j = 0; j < n; j++) {
        const vo = (j * HK + kh) * Dh;
        let s = 0;
        for (let d = 0; d < Dh; d++) {
          s += dz[zo + d] * v[vo + d];
          dv[vo + d] += pat[r + j] * dz[zo + d];
        }
        dPat[r + j] = s;
      }
      if (relevance) continue;
      let dot = 0;
      for (let j = 0; j < n; j++) dot += pat[r + j] * dPat[r + j];
      for (let j = 0; j <= i; j++) {
        const ds = pat[r + j] * (dPat[r + j] - dot);
        dScores[r + j] = ds;
        const ko = (j * HK + kh) * Dh;
        for (let d = 0; d < Dh; d++) {
          dq[zo + d] += scale * ds * rk[ko + d];
          dk[ko + d] += scale * ds * rq[zo + d];
        }
      }
    }
  }
  // A detached pattern passes nothing back, itself included.
  put(p + "hook_pattern", relevance ? new Float64Array(dPat.length) : dPat);
  put(p + "hook_attn_scores", dScores);
  put(p + "hook_v", dv);
  if (rotary) {
    put(p + "hook_rot_q", dq);
    put(p + "hook_rot_k", dk);
    rope(dq, n, H, Dh, c.nRot, c.ropeBase, c.rope === "neox", -1);
    rope(dk, n, HK, Dh, c.nRot, c.ropeBase, c.rope === "neox", -1);
  }
  put(p + "hook_q", dq);
  put(p + "hook_k", dk);
  return { dq, dk, dv };
}
