import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { withLlamaCppModel } from "../gguf/llama-cpp";
import { argmax, forward, generateGreedy, hookNames, loadReferenceModel, logitsAt } from "./index";

const repoRoot = path.resolve(__dirname, "../..");
const stories = path.resolve(repoRoot, "../shared/models/stories260K.gguf");
const skip = existsSync(stories) ? false : `skipped: ${stories} is absent (the shared test models live beside the repository)`;
const prompt = "Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily";
// llama.cpp's tokenization of the prompt above, with BOS (1) in front
const promptIds = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 335, 311, 268, 388, 426, 385, 328, 432, 317];

test("stories260K: finite logits, every hook fires with the documented shape", { skip }, () => {
  const model = loadReferenceModel(stories);
  const r = forward(model, promptIds);
  assert.deepEqual(r.logits.shape, [promptIds.length, 512]);
  assert.ok(r.logits.data.every(Number.isFinite), "logits contain a non-finite value");
  const n = promptIds.length;
  const shapes: Record<string, number[]> = {
    "hook_embed": [n, 64],
    "blocks.0.hook_resid_pre": [n, 64],
    "blocks.2.attn.hook_q": [n, 8, 8],
    "blocks.2.attn.hook_k": [n, 4, 8],
    "blocks.2.attn.hook_rot_k": [n, 4, 8],
    "blocks.2.attn.hook_pattern": [8, n, n],
    "blocks.2.attn.hook_z": [n, 8, 8],
    "blocks.4.mlp.hook_post": [n, 172],
    "ln_final.hook_normalized": [n, 64],
  };
  for (const [name, shape] of Object.entries(shapes)) assert.deepEqual(r.cache.get(name)?.shape, shape, name);
  assert.deepEqual([...r.cache.keys()], hookNames(model));
  const pattern = r.cache.get("blocks.1.attn.hook_pattern")!.data;
  for (let row = 0; row < 8 * n; row++) {
    const sum = pattern.subarray(row * n, row * n + n).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `pattern row ${row} sums to ${sum}`);
  }
});

test("stories260K: greedy continuation equals llama.cpp's", { skip }, async () => {
  const model = loadReferenceModel(stories);
  const ours = generateGreedy(model, promptIds, 12);
  const theirs = await withLlamaCppModel(stories, async (m) => {
    assert.deepEqual([1, ...m.tokenize(prompt).map(Number)], promptIds);
    const { LlamaCompletion } = await import("node-llama-cpp");
    const ctx = await m.createContext({ contextSize: 128, threads: 1 });
    try {
      const completion = new LlamaCompletion({ contextSequence: ctx.getSequence() });
      return await completion.generateCompletion(prompt, { maxTokens: 12, temperature: 0 });
    } finally {
      await ctx.dispose();
    }
  });
  assert.equal(ours.length, 12);
  const text = await withLlamaCppModel(stories, (m) => m.detokenize(ours.map((t) => t as never)));
  assert.equal(text, theirs);
});

test("hooks: an identity hook changes nothing; zeroing one head's z changes the logits; a replacement is used", { skip }, () => {
  const model = loadReferenceModel(stories);
  const base = forward(model, promptIds, { cache: false }).logits.data;
  const same = forward(model, promptIds, { cache: false, hooks: { "blocks.3.hook_resid_mid": () => undefined } }).logits.data;
  assert.deepEqual(same, base);
  const ablated = forward(model, promptIds, {
    cache: false,
    hooks: { "blocks.3.attn.hook_z": (t) => { for (let p = 0; p < t.shape[0]; p++) t.data.fill(0, (p * 8 + 5) * 8, (p * 8 + 6) * 8); } },
  }).logits.data;
  const diff = Math.max(...ablated.map((v, i) => Math.abs(v - base[i])));
  assert.ok(diff > 1e-3, `zeroing head 5 of layer 3 changed the logits by only ${diff}`);
  const zeroResid = forward(model, promptIds, {
    cache: false,
    hooks: { "blocks.4.hook_resid_post": (t) => ({ shape: t.shape, data: new Float32Array(t.data.length) }) },
  });
  const last = logitsAt(zeroResid, -1);
  assert.ok(last.every((v) => v === 0), "a zero final residual must give zero logits (no output bias)");
  assert.throws(() => forward(model, promptIds, { hooks: { "blocks.9.hook_resid_pre": () => undefined } }), /unknown hook name blocks.9.hook_resid_pre/);
  assert.equal(argmax(logitsAt(forward(model, promptIds, { cache: false }), -1)), argmax(base.subarray(base.length - 512)));
});
