// A Q8_0 copy made with llama_model_quantize loads, runs hooks, and stays close to the F32 original.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { load, quantize, zero } from "../../src/engine/index";
import { assertClose, prompt, relativeError, skipStories, stories } from "./helpers";

test("stories260K quantized to Q8_0: provenance, hooks, logits and weights close to F32", { skip: skipStories }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "steer-engine-quant-"));
  try {
    const dst = path.join(dir, "stories-q8_0.gguf");
    const prov = quantize(stories, dst, "Q8_0");
    assert.equal(prov.path, dst);
    assert.equal(prov.quantization, "Q8_0");
    assert.match(prov.sha256, /^[0-9a-f]{64}$/);
    const f32 = await load(stories, { contextSize: 256, threads: 1 });
    const q8 = await load(dst, { contextSize: 256, threads: 1 });
    try {
      assert.equal(q8.provenance.quantization, "Q8_0");
      assert.equal(q8.provenance.sha256, prov.sha256);
      const names = ["blocks.2.attn.hook_z", "blocks.4.hook_resid_post"];
      const a = await f32.runWithCache(prompt, { names });
      const b = await q8.runWithCache(prompt, { names });
      // Q8_0 keeps about 2-3 significant digits per weight
      for (const n of names) assertClose(b.cache.get(n), a.cache.get(n), `Q8_0 ${n}`, 0.05);
      assertClose(b.logits, a.logits, "Q8_0 logits", 0.05);
      assert.ok(relativeError(b.logits, a.logits) > 0, "the quantized model should differ a little");
      const ablated = await q8.runWithHooks(prompt, { "blocks.3.attn.hook_z": zero({ heads: [5] }) });
      assert.ok(relativeError(ablated.logits, b.logits) > 1e-3, "hooks edit the quantized model too");
      assertClose(q8.weight("blocks.1.attn.W_Q"), f32.weight("blocks.1.attn.W_Q"), "dequantized W_Q", 0.02);
    } finally {
      f32.dispose();
      q8.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
