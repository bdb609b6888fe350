// The engine inside the kernel, as a notebook uses it: the default model loads, engine errors end the
// cell but not the kernel, and an interrupt reaches llama.cpp's abort callback in a long native run.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertOk, errorOf, newClient, runCell } from "./harness";

describe("engine in the kernel", { timeout: 90_000 }, () => {
  test("steer.load() with no path loads the bundled toy-circuits model", async () => {
    const client = newClient();
    try {
      const run = await runCell(client, "const model = await steer.load();\n`${model.config.arch} ${model.config.nLayers}x${model.config.nHeads}`");
      assertOk(run, "load");
      assert.equal(run.text, "gpt2 4x4");
    } finally {
      await client.dispose();
    }
  });

  test("an unknown hook name fails the cell with close matches, and the kernel keeps the model", async () => {
    const client = newClient();
    try {
      assertOk(await runCell(client, "const model = await steer.load();"), "load");
      const bad = await runCell(client, 'await model.runWithCache("When Mary", { names: ["blocks.1.attn.hook_zz"] });');
      assert.equal(bad.outcome.status, "error");
      assert.match(errorOf(bad.outcome), /blocks\.1\.attn\.hook_z\b/, "the error suggests the close match");
      const after = await runCell(client, "model.toStr(model.tokenize(' Mary')).join('|')");
      assertOk(after, "after the error");
      assert.match(after.text, /Mary/);
    } finally {
      await client.dispose();
    }
  });

  test("interrupt stops a long native run within 1 s; the model stays loaded", async () => {
    const client = newClient();
    try {
      assertOk(await runCell(client, "const model = await steer.load();"), "load");
      let markRunning!: () => void;
      const running = new Promise<void>((r) => (markRunning = r));
      // One runBatch call: thousands of sequences decoded inside the engine, no cell-level loop to check.
      const code = 'console.log("started");\nconst items = Array.from({ length: 20000 }, () => ({ input: "When Mary and John went to the store, John gave a drink to", logits: "last" as const }));\nawait model.runBatch(items);';
      const result = client.execute({ cellId: "long", cellIndex: 2, code }, () => markRunning());
      await running;
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      await client.interrupt();
      const outcome = await result;
      const elapsed = Date.now() - started;
      assert.equal(outcome.status, "interrupted", errorOf(outcome));
      assert.ok(elapsed < 1000, `interrupt took ${elapsed} ms`);
      const after = await runCell(client, '(await model.runWithCache("When Mary", { logits: "last" })).logits.shape.join("x")');
      assertOk(after, "after the interrupt");
      assert.equal(after.text, "1x" + 591);
    } finally {
      await client.dispose();
    }
  });
});
