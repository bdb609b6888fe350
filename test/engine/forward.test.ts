// The engine's logits and every cached activation against the independent reference forward pass.
import assert from "node:assert/strict";
import { test } from "node:test";
import { existsSync } from "node:fs";
import { bundledModelPath, load } from "../../src/engine/index";
import { forward, loadReferenceModel } from "../reference/index";
import { generatedModels } from "./generated";
import { assertClose, prompt, skipStories, stories } from "./helpers";

interface Case {
  name: string;
  path: () => string;
  skip: string | false;
  text: string;
  tol?: number;
}

const cases: Case[] = [
  { name: "stories260K (llama, GQA)", path: () => stories, skip: skipStories, text: prompt },
  {
    name: "bundled toy-circuits",
    path: bundledModelPath,
    skip: existsSync(bundledModelPath()) ? false : `skipped: ${bundledModelPath()} is absent (written by the models generator)`,
    text: "When Mary and John went to the store John gave a drink to",
    // Its matrices are F16, and llama.cpp rounds activations to F16 to multiply them (the reference does not).
    tol: 3e-3,
  },
  ...generatedModels.map((g) => ({ name: `generated ${g.arch}`, path: () => g.path(), skip: g.skip, text: "Once upon a time there was a little girl and she loved to play with her ball in the park" })),
];

for (const c of cases) {
  test(`${c.name}: logits and every hook agree with the reference within ${c.tol ?? 1e-3}`, { skip: c.skip }, async () => {
    const model = await load(c.path(), { contextSize: 256, threads: 1 });
    try {
      const ref = loadReferenceModel(c.path());
      const tokens = model.tokenize(c.text);
      const { logits, cache } = await model.runWithCache(tokens);
      const r = forward(ref, tokens);
      assertClose(logits, r.logits, "logits", c.tol);
      const ours = new Set(model.hookNames().map((h) => h.name));
      for (const [name, t] of r.cache) {
        assert.ok(ours.has(name), `the engine has no hook ${name}`);
        assertClose(cache.get(name), t, name, c.tol);
      }
      assert.equal(cache.size, ours.size, "runWithCache without names records every hook");
    } finally {
      model.dispose();
    }
  });
}

test("stories260K: hookNames lists TransformerLens names with dims; config matches the file", { skip: skipStories }, async () => {
  const model = await load(stories, { contextSize: 64, threads: 1 });
  try {
    assert.deepEqual(
      { ...model.config },
      { arch: "llama", nLayers: 5, nHeads: 8, nKvHeads: 4, dModel: 64, dHead: 8, dMlp: 172, nVocab: 512, nCtx: 256, nCtxTrain: 2048 },
      "llama.cpp rounds the context up to a multiple of 256",
    );
    const names = new Map(model.hookNames().map((h) => [h.name, h.shape]));
    assert.deepEqual(names.get("blocks.3.attn.hook_z"), ["pos", "head", "d_head"]);
    assert.deepEqual(names.get("blocks.0.attn.hook_pattern"), ["head", "query_pos", "key_pos"]);
    assert.deepEqual(names.get("logits"), ["pos", "vocab"]);
    assert.equal(model.provenance.sha256, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
    assert.match(model.provenance.quantization, /^F32/);
    assert.match(model.provenance.llamaCppVersion, /\d/);
    // the raw graph behind the table: each layer's z is kqv_out-L, laid out by query head
    const nodes = model.graphTrace("Once upon a time");
    const z = nodes.filter((n) => n.name === "kqv_out-3");
    assert.deepEqual(z.map((n) => [n.op, n.ne.slice(0, 2)]), [["CONT", [64, 5]]]);
  } finally {
    model.dispose();
  }
});

test("stories260K: logits 'last' and a names filter record only what was asked", { skip: skipStories }, async () => {
  const model = await load(stories, { contextSize: 64, threads: 1 });
  try {
    const tokens = model.tokenize(prompt);
    const all = await model.runWithCache(tokens, { names: [] });
    const last = await model.runWithCache(tokens, { names: (n) => n.endsWith("hook_resid_post"), logits: "last" });
    assert.deepEqual(last.logits.shape, [1, 512]);
    assertClose(last.logits, { shape: [1, 512], data: all.logits.data.slice(-512) }, "last logits", 1e-6);
    assert.deepEqual(last.cache.keys(), [0, 1, 2, 3, 4].map((l) => `blocks.${l}.hook_resid_post`));
    assert.equal(all.cache.size, 0);
  } finally {
    model.dispose();
  }
});
