// Interventions through llama.cpp's graph against the same interventions in the reference.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { addVector, load, mean, patch, Tensor, zero, type Model } from "../../src/engine/index";
import { forward, loadReferenceModel, type Hook, type RefModel } from "../reference/index";
import { generatedModels } from "./generated";
import { assertClose, lastRow, prompt, relativeError, skipStories, stories } from "./helpers";

let model: Model;
let ref: RefModel;
let tokens: number[];
// Same length as the clean prompt: "Lily" becomes another name-like token in the last position's context.
let corrupted: number[];

before(async () => {
  if (skipStories) return;
  model = await load(stories, { contextSize: 512, batchSize: 512, threads: 1 });
  ref = loadReferenceModel(stories);
  tokens = model.tokenize(prompt);
  corrupted = [...tokens];
  const lily = tokens[14];
  for (let i = 1; i < corrupted.length; i++) if (corrupted[i] === lily) corrupted[i] = model.tokenize(" Ben", { bos: false })[0];
});
after(() => model?.dispose());

const H = 8;
const Dh = 8;

/** Reference hook zeroing head h of a [pos, head, d_head] tensor. */
const refZeroHead = (h: number): Hook => (t) => {
  for (let p = 0; p < t.shape[0]; p++) t.data.fill(0, (p * H + h) * Dh, (p * H + h + 1) * Dh);
};

test("zero-ablating each of the 40 heads (one runBatch) matches the reference", { skip: skipStories }, async () => {
  const items = [];
  for (let l = 0; l < 5; l++) for (let h = 0; h < H; h++) items.push({ input: tokens, hooks: { [`blocks.${l}.attn.hook_z`]: zero({ heads: [h] }) }, names: [], logits: "last" as const });
  const results = await model.runBatch(items);
  let i = 0;
  for (let l = 0; l < 5; l++)
    for (let h = 0; h < H; h++) {
      const r = forward(ref, tokens, { cache: false, hooks: { [`blocks.${l}.attn.hook_z`]: refZeroHead(h) } });
      const expected = { shape: [1, 512], data: r.logits.data.slice(-512) };
      assertClose(results[i++].logits, expected, `layer ${l} head ${h} ablated`);
    }
});

test("patching one head's hook_z from a corrupted run matches the reference, and moves the logits", { skip: skipStories }, async () => {
  const name = "blocks.3.attn.hook_z";
  const h = 5;
  const source = (await model.runWithCache(corrupted, { names: [name] })).cache.get(name);
  const ours = await model.runWithHooks(tokens, { [name]: patch(source, { heads: [h] }) });
  const refSource = forward(ref, corrupted).cache.get(name)!;
  const r = forward(ref, tokens, {
    cache: false,
    hooks: {
      [name]: (t) => {
        for (let p = 0; p < t.shape[0]; p++) t.data.set(refSource.data.subarray((p * H + h) * Dh, (p * H + h + 1) * Dh), (p * H + h) * Dh);
      },
    },
  });
  assertClose(ours.logits, r.logits, "patched logits");
  const clean = forward(ref, tokens, { cache: false });
  assert.ok(relativeError(r.logits, clean.logits) > 1e-3, "the patch should change the logits");
});

test("steering: adding a scaled vector to the residual stream matches the reference", { skip: skipStories }, async () => {
  const v = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7));
  const name = "blocks.2.hook_resid_pre";
  const ours = await model.runWithHooks(tokens, { [name]: addVector(v, { scale: 4, positions: [3, 4, 5] }) });
  const r = forward(ref, tokens, {
    cache: false,
    hooks: {
      [name]: (t) => {
        for (const p of [3, 4, 5]) for (let j = 0; j < 64; j++) t.data[p * 64 + j] += 4 * v[j];
      },
    },
  });
  assertClose(ours.logits, r.logits, "steered logits");
});

// Each row edits a different kind of graph tensor: views (RESHAPE), ROPE output, attention
// probabilities and scores (cropped KV layout), MLP activations, the final norm, the logits.
const edits: { name: string; edit: (t: { shape: readonly number[]; data: Float32Array }) => void }[] = [
  { name: "blocks.1.attn.hook_q", edit: (t) => t.data.forEach((v, i) => (t.data[i] = v * 2)) },
  { name: "blocks.1.attn.hook_k", edit: (t) => t.data.fill(0.5, 0, 8) },
  { name: "blocks.2.attn.hook_v", edit: (t) => t.data.forEach((v, i) => (t.data[i] = -v)) },
  { name: "blocks.2.attn.hook_rot_q", edit: (t) => t.data.forEach((v, i) => (t.data[i] = v * 0.5)) },
  { name: "blocks.0.attn.hook_rot_k", edit: (t) => t.data.fill(0, 8 * 4 * 3) },
  {
    name: "blocks.3.attn.hook_pattern",
    edit: (t) => {
      // uniform attention over the visible keys for head 2
      const [, n] = t.shape;
      for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) t.data[(2 * n + i) * n + j] = 1 / (i + 1);
    },
  },
  {
    name: "blocks.4.attn.hook_attn_scores",
    edit: (t) => {
      const [, n] = t.shape;
      for (let i = 0; i < n; i++) t.data[(7 * n + i) * n] += 3;
    },
  },
  { name: "blocks.0.mlp.hook_pre", edit: (t) => t.data.forEach((v, i) => (t.data[i] = Math.max(v, 0))) },
  { name: "blocks.4.mlp.hook_post", edit: (t) => t.data.fill(0, 0, 172 * 4) },
  { name: "blocks.4.hook_resid_mid", edit: (t) => t.data.forEach((v, i) => (t.data[i] = v * 0.9)) },
  { name: "ln_final.hook_normalized", edit: (t) => t.data.fill(0, 64 * 2, 64 * 3) },
  { name: "hook_embed", edit: (t) => t.data.fill(0, 64, 128) },
  { name: "logits", edit: (t) => t.data.fill(-5, 0, 512) },
];

for (const { name, edit } of edits) {
  test(`editing ${name} in place matches the reference`, { skip: skipStories }, async () => {
    const ours = await model.runWithHooks(tokens, { [name]: (t) => void edit(t) }, { names: ["blocks.4.hook_resid_post"] });
    const r = name === "logits" ? forward(ref, tokens) : forward(ref, tokens, { hooks: { [name]: (t) => void edit(t) } });
    if (name === "logits") edit(r.logits);
    assertClose(ours.logits, r.logits, `logits after editing ${name}`);
    assertClose(ours.cache.get("blocks.4.hook_resid_post"), r.cache.get("blocks.4.hook_resid_post")!, "resid_post 4");
  });
}

test("mean-ablation and returning a replacement tensor match the reference", { skip: skipStories }, async () => {
  const name = "blocks.2.hook_mlp_out";
  const ours = await model.runWithHooks(tokens, { [name]: [mean({ positions: [5, 6, 7] }), (t) => new Tensor(t.shape, t.data.map((v) => v * 3))] });
  const r = forward(ref, tokens, {
    cache: false,
    hooks: {
      [name]: (t) => {
        const n = t.shape[0];
        const avg = new Float32Array(64);
        for (let p = 0; p < n; p++) for (let j = 0; j < 64; j++) avg[j] += t.data[p * 64 + j] / n;
        for (const p of [5, 6, 7]) t.data.set(avg, p * 64);
        return { shape: t.shape, data: t.data.map((v) => v * 3) };
      },
    },
  });
  assertClose(ours.logits, r.logits, "logits");
  assert.notDeepEqual(lastRow(ours.logits), lastRow(forward(ref, tokens, { cache: false }).logits));
});

// Per architecture, the hooks whose graph tensors differ: gpt2's Q/K/V are columns of a fused
// projection and its attn_out (like qwen2's) is derived as resid_mid - resid_pre.
for (const g of generatedModels) {
  test(`generated ${g.arch}: editing q, k, v, attn_out, pattern and zero-ablating each head match the reference`, { skip: g.skip }, async () => {
    const m = await load(g.path(), { contextSize: 256, threads: 1 });
    try {
      const r = loadReferenceModel(g.path());
      const toks = m.tokenize("When Mary and John went to the store John gave a drink to");
      const { nHeads, nKvHeads, dHead, nLayers } = m.config;
      const scale = (f: number) => (t: { data: Float32Array }) => void t.data.forEach((v, i) => (t.data[i] = v * f));
      const plain = forward(r, toks, { cache: false });
      const edits: [string, (t: { shape: readonly number[]; data: Float32Array }) => void][] = [
        ["blocks.0.attn.hook_q", scale(3)],
        ["blocks.1.attn.hook_k", (t) => void t.data.fill(0.2, 0, nKvHeads * dHead)],
        ["blocks.0.attn.hook_v", scale(-2)],
        ["blocks.1.hook_attn_out", scale(5)],
        ["blocks.0.hook_attn_out", (t) => void t.data.fill(0, 64 * 2)],
        ["blocks.1.attn.hook_pattern", (t) => void t.data.forEach((v, i) => (t.data[i] = v * 0.5))],
      ];
      for (const [name, edit] of edits) {
        const ours = await m.runWithHooks(toks, { [name]: (t) => edit(t) }, { names: [name] });
        const theirs = forward(r, toks, { hooks: { [name]: (t) => edit(t) } });
        assertClose(ours.logits, theirs.logits, `${g.arch} logits after editing ${name}`);
        assertClose(ours.cache.get(name), theirs.cache.get(name)!, `${g.arch} ${name} as cached after the edit`);
        // well above the tolerance, so a dropped edit could not pass
        assert.ok(relativeError(theirs.logits, plain.logits) > 3e-3, `editing ${name} should move the logits`);
      }
      const items = [];
      for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) items.push({ input: toks, names: [], hooks: { [`blocks.${l}.attn.hook_z`]: zero({ heads: [h] }) } });
      const results = await m.runBatch(items);
      let i = 0;
      for (let l = 0; l < nLayers; l++)
        for (let h = 0; h < nHeads; h++) {
          const theirs = forward(r, toks, {
            cache: false,
            hooks: { [`blocks.${l}.attn.hook_z`]: (t) => void Array.from({ length: t.shape[0] }, (_, p) => t.data.fill(0, (p * nHeads + h) * dHead, (p * nHeads + h + 1) * dHead)) },
          });
          assertClose(results[i++].logits, theirs.logits, `${g.arch} layer ${l} head ${h} ablated`);
        }
    } finally {
      m.dispose();
    }
  });
}
