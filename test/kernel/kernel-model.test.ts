// The notebook's model in the kernel: an execute request naming a model makes `steer.load()` load it, a
// path given to steer.load still wins, and every load tells the host what was loaded (model-loaded).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { LoadedModelInfo } from "../../src/protocol";
import { writeRandomModel } from "../../src/models";
import { assertOk, newClient, repoRoot, runCell } from "./harness";

let dir: string;
let llama: string;

describe("the notebook's model in the kernel", { timeout: 90_000 }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "steer-kernel-model-"));
    llama = join(dir, "notebook-llama.gguf");
    writeRandomModel(llama, { arch: "llama", layers: 3, heads: 4, kvHeads: 2, dModel: 64, dMlp: 96, seed: 11 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("steer.load() loads the request's model, reports it to the host, and a path still wins", async () => {
    const client = newClient();
    const loaded: LoadedModelInfo[] = [];
    client.onDidLoadModel((m) => loaded.push(m));
    try {
      const code = "const model = await steer.load();\n`${model.config.arch} ${model.config.nLayers}x${model.config.nHeads} ${model.provenance.path}`";
      const first = await runCell(client, code, { model: llama });
      assertOk(first, code);
      assert.equal(first.text, `llama 3x4 ${llama}`, `expected the notebook's model, got ${first.text}`);
      assert.deepEqual(loaded, [{ path: llama, name: "notebook-llama", architecture: "llama", quantization: "F32", nLayers: 3, nHeads: 4 }]);

      // The notebook names no model (anymore): the bundled one, as before.
      const bundled = await runCell(client, "(await steer.load()).config.arch");
      assertOk(bundled, "bundled");
      assert.equal(bundled.text, "gpt2");
      assert.equal(loaded.at(-1)?.name, "toy-circuits");
      assert.equal(loaded.at(-1)?.path, join(repoRoot, "samples", "models", "toy-circuits.gguf"));

      // An explicit path beats the notebook's model.
      const explicit = await runCell(client, `(await steer.load(${JSON.stringify(join(repoRoot, "samples", "models", "toy-circuits.gguf"))})).config.arch`, { model: llama });
      assertOk(explicit, "explicit");
      assert.equal(explicit.text, "gpt2");
      assert.equal(loaded.length, 3, `expected one model-loaded message per load, got ${loaded.length}`);
      assert.equal(loaded[1].quantization, loaded[2].quantization);
    } finally {
      await client.dispose();
    }
  });

  test("a notebook model that does not exist fails steer.load() naming the file", async () => {
    const client = newClient();
    try {
      const missing = join(dir, "gone.gguf");
      const r = await runCell(client, "await steer.load();", { model: missing });
      assert.equal(r.outcome.status, "error");
      assert.ok("error" in r.outcome && r.outcome.error.message.includes(missing), `expected the error to name ${missing}: ${JSON.stringify(r.outcome)}`);
    } finally {
      await client.dispose();
    }
  });
});
