// weight() returns TransformerLens shapes: checked by recomputing cached activations from them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load, type Model, type Tensor } from "../../src/engine/index";
import { generatedModels } from "./generated";
import { assertClose, prompt, skipStories, stories } from "./helpers";

/** y[p, o] = sum_i x[p, i] * W[i, o] (+ b[o]) for row-major x [n, I] and W [I, O]. */
function matmul(x: Float32Array, n: number, w: Float32Array, I: number, O: number, b?: Float32Array): Float32Array {
  const y = new Float32Array(n * O);
  for (let p = 0; p < n; p++)
    for (let i = 0; i < I; i++) {
      const xv = x[p * I + i];
      for (let o = 0; o < O; o++) y[p * O + o] += xv * w[i * O + o];
    }
  if (b) for (let p = 0; p < n; p++) for (let o = 0; o < O; o++) y[p * O + o] += b[o];
  return y;
}

async function checkWeights(m: Model, text: string) {
  const { nHeads: H, nKvHeads: HK, dHead: Dh, dModel: D, dMlp: F, nVocab: V, nLayers } = m.config;
  const { logits, cache } = await m.runWithCache(text);
  const c = (n: string) => cache.get(n);
  const n = c("hook_embed").shape[0];
  const opt = (name: string) => (m.weightNames().includes(name) ? m.weight(name).data : undefined);
  const tokens = m.tokenize(text);
  const WE = m.weight("W_E");
  assert.deepEqual(WE.shape, [V, D]);
  const embed = new Float32Array(n * D);
  tokens.forEach((t, p) => embed.set(WE.data.subarray(t * D, (t + 1) * D), p * D));
  assertClose({ shape: [n, D], data: embed }, c("hook_embed"), "W_E rows = hook_embed");

  for (let l = 0; l < nLayers; l++) {
    const p = `blocks.${l}.`;
    const x = c(p + "ln1.hook_normalized").data;
    for (const [k, heads] of [["Q", H], ["K", HK], ["V", HK]] as const) {
      const W = m.weight(`${p}attn.W_${k}`);
      assert.deepEqual(W.shape, [heads, D, Dh], `W_${k} shape`);
      const b = opt(`${p}attn.b_${k}`);
      const out = new Float32Array(n * heads * Dh);
      for (let h = 0; h < heads; h++) {
        const y = matmul(x, n, W.data.subarray(h * D * Dh, (h + 1) * D * Dh), D, Dh, b?.subarray(h * Dh, (h + 1) * Dh));
        for (let q = 0; q < n; q++) out.set(y.subarray(q * Dh, (q + 1) * Dh), (q * heads + h) * Dh);
      }
      assertClose({ shape: [n, heads, Dh], data: out }, c(`${p}attn.hook_${k.toLowerCase()}`), `ln1 @ W_${k} = hook_${k.toLowerCase()} (layer ${l})`);
    }
    const WO = m.weight(p + "attn.W_O");
    assert.deepEqual(WO.shape, [H, Dh, D]);
    assertClose({ shape: [n, D], data: matmul(c(p + "attn.hook_z").data, n, WO.data, H * Dh, D, opt(p + "attn.b_O")) }, c(p + "hook_attn_out"), `z @ W_O = attn_out (layer ${l})`);
    const x2 = c(p + "ln2.hook_normalized").data;
    const gated = m.weightNames().includes(p + "mlp.W_gate");
    const Win = m.weight(p + "mlp.W_in");
    assert.deepEqual(Win.shape, [D, F]);
    const pre = matmul(x2, n, (gated ? m.weight(p + "mlp.W_gate") : Win).data, D, F, opt(p + (gated ? "mlp.b_gate" : "mlp.b_in")));
    assertClose({ shape: [n, F], data: pre }, c(p + "mlp.hook_pre"), `ln2 @ W_${gated ? "gate" : "in"} = mlp.hook_pre (layer ${l})`);
    const Wout = m.weight(p + "mlp.W_out");
    assert.deepEqual(Wout.shape, [F, D]);
    assertClose({ shape: [n, D], data: matmul(c(p + "mlp.hook_post").data, n, Wout.data, F, D, opt(p + "mlp.b_out")) }, c(p + "hook_mlp_out"), `post @ W_out = mlp_out (layer ${l})`);
  }
  const WU: Tensor = m.weight("W_U");
  assert.deepEqual(WU.shape, [D, V]);
  assertClose({ shape: [n, V], data: matmul(c("ln_final.hook_normalized").data, n, WU.data, D, V, opt("b_U")) }, logits, "ln_final @ W_U = logits");
}

test("stories260K: weights in TransformerLens shapes reproduce the cached activations", { skip: skipStories }, async () => {
  const m = await load(stories, { contextSize: 256, threads: 1 });
  try {
    await checkWeights(m, prompt);
    assert.throws(() => m.weight("blocks.0.attn.W_q"), /Unknown weight "blocks\.0\.attn\.W_q"\. Did you mean "blocks\.0\.attn\.W_Q"/);
    assert.throws(() => m.weight("blocks.7.attn.W_Q"), /Layer 7 is out of range/);
  } finally {
    m.dispose();
  }
});

for (const g of generatedModels) {
  test(`generated ${g.arch}: weights reproduce the cached activations`, { skip: g.skip }, async () => {
    const m = await load(g.path(), { contextSize: 256, threads: 1 });
    try {
      await checkWeights(m, "When Mary and John went to the store John gave a drink to");
      if (g.arch === "gpt2") assert.deepEqual(m.weight("W_pos").shape, [512, 64]);
    } finally {
      m.dispose();
    }
  });
}
