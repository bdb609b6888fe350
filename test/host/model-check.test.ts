// The check "Steer: Select Model" runs before a notebook names a file: real GGUF files written by the models
// helper (good, cut short, relabelled as another architecture, with experts) and a text file, each verdict
// and message naming the file and the reason; and the notebook metadata that records the choice.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SUPPORTED_ARCHITECTURES } from "../../src/engine";
import { gguf, writeGGUFFile, type GGUFValue } from "../../src/gguf";
import { checkModel, ENGINE_ARCHITECTURES } from "../../src/host/model-check";
import { notebookModelRef, resolveNotebookModel, withNotebookModel } from "../../src/host/notebook-model";
import { randomModelSpec, writeRandomModel } from "../../src/models";

let dir: string;
const shape = { arch: "gpt2" as const, layers: 2, heads: 4, dModel: 64, dMlp: 256, seed: 5 };

/** The random model's spec with metadata keys replaced or added. */
function writeRelabelled(path: string, changes: Record<string, GGUFValue>): void {
  const spec = randomModelSpec(shape);
  const entries = spec.metadata instanceof Map ? [...spec.metadata] : [...spec.metadata];
  const metadata = new Map(entries);
  for (const [k, v] of Object.entries(changes)) metadata.set(k, v);
  writeGGUFFile(path, { ...spec, metadata });
}

describe("checkModel", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "steer-model-check-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the host's list of architectures is the engine's", () => {
    assert.deepEqual([...ENGINE_ARCHITECTURES], [...SUPPORTED_ARCHITECTURES]);
  });

  test("a good model passes with its architecture and shape", () => {
    const path = join(dir, "good-gpt2.gguf");
    writeRandomModel(path, shape);
    const check = checkModel(path);
    assert.deepEqual(check, { ok: true, path, name: "good-gpt2", architecture: "gpt2", nLayers: 2, nHeads: 4 });
  });

  test("a text file is not GGUF", () => {
    const path = join(dir, "notes.gguf");
    writeFileSync(path, "These are my notes, not a model.\n");
    const check = checkModel(path);
    assert.equal(check.ok, false);
    assert.ok(!check.ok);
    assert.equal(check.reason, "not-gguf");
    assert.ok(check.message.startsWith(path), `the message does not start with the file: ${check.message}`);
    assert.match(check.message, /not a GGUF model file/);
  });

  test("a file of two bytes is not GGUF", () => {
    const path = join(dir, "tiny.gguf");
    writeFileSync(path, "GG");
    const check = checkModel(path);
    assert.ok(!check.ok);
    assert.equal(check.reason, "not-gguf", check.message);
    assert.match(check.message, /only 2 bytes long/);
  });

  test("a file cut short in its tensor data, or in its header, is truncated", () => {
    const good = join(dir, "whole.gguf");
    writeRandomModel(good, shape);
    const bytes = readFileSync(good);
    for (const [name, keep] of [["cut-data.gguf", bytes.length - 1000], ["cut-header.gguf", 200]] as const) {
      const path = join(dir, name);
      writeFileSync(path, bytes.subarray(0, keep));
      const check = checkModel(path);
      assert.ok(!check.ok, `${name} passed the check`);
      assert.equal(check.reason, "truncated", check.message);
      assert.ok(check.message.startsWith(path), `the message does not start with the file: ${check.message}`);
      assert.match(check.message, /truncated GGUF file/);
    }
    const cut = checkModel(join(dir, "cut-data.gguf"));
    assert.ok(!cut.ok);
    assert.match(cut.message, new RegExp(`need ${bytes.length} bytes, the file has ${bytes.length - 1000}`), cut.message);
  });

  test("an architecture the hooks do not know, and a mixture of experts, are unsupported, naming the supported ones", () => {
    const bert = join(dir, "bert.gguf");
    writeRelabelled(bert, { "general.architecture": gguf.str("bert") });
    const check = checkModel(bert);
    assert.ok(!check.ok);
    assert.equal(check.reason, "unsupported-architecture");
    assert.equal(check.message, `${bert}: architecture "bert" is not supported by Steer's hooks (supported: llama, qwen2, gpt2).`);
    const moe = join(dir, "moe.gguf");
    writeRelabelled(moe, { "gpt2.expert_count": gguf.u32(8) });
    const experts = checkModel(moe);
    assert.ok(!experts.ok);
    assert.equal(experts.reason, "unsupported-architecture");
    assert.match(experts.message, /with 8 experts/);
  });

  test("a missing file says so", () => {
    const check = checkModel(join(dir, "nowhere.gguf"));
    assert.ok(!check.ok);
    assert.equal(check.reason, "not-found");
  });
});

describe("notebook model metadata", () => {
  test("absent, set, resolved beside the notebook, and every other field kept", () => {
    assert.equal(notebookModelRef({}), undefined);
    assert.equal(resolveNotebookModel({ title: "x" }, "/work/nb/a.steer-nb"), undefined);
    const before = { title: "IOI", steer: { theme: "dark", model: { path: "old.gguf", source: "hf:a/b:Q8_0", pinned: true } }, other: [1] };
    const inside = withNotebookModel(before, "/work/nb/models/gpt2.Q8_0.gguf", "/work/nb/a.steer-nb");
    assert.deepEqual(inside, { title: "IOI", steer: { theme: "dark", model: { pinned: true, path: "models/gpt2.Q8_0.gguf" } }, other: [1] });
    assert.equal(resolveNotebookModel(inside, "/work/nb/a.steer-nb"), "/work/nb/models/gpt2.Q8_0.gguf");
    const outside = withNotebookModel({}, "/home/ada/.cache/steer-nb/models/m.gguf", "/work/nb/a.steer-nb", "hf:user/repo:Q8_0");
    assert.deepEqual(outside, { steer: { model: { path: "/home/ada/.cache/steer-nb/models/m.gguf", source: "hf:user/repo:Q8_0" } } });
    assert.equal(resolveNotebookModel(outside, "/work/nb/a.steer-nb"), "/home/ada/.cache/steer-nb/models/m.gguf");
    assert.equal(resolveNotebookModel({ steer: { model: { path: "m.gguf" } } }, undefined, "/tmp/k"), "/tmp/k/m.gguf");
  });

  test("a malformed entry is an error that says what to write", () => {
    assert.throws(() => notebookModelRef({ steer: { model: "gpt2.gguf" } }), /must be \{ "path": "<file\.gguf>" \}/);
    assert.throws(() => notebookModelRef({ steer: 3 }), /not an object/);
  });
});
