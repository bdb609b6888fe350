// Loading again does not pile up models: the same file with the same options is the same model, a
// model nothing references is freed, dispose() frees at once. load() neither hashes the file nor
// parses the GGUF header again for every weight.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { load } from "../../src/engine/index";
import { nativeAddon } from "../../src/engine/native";
import { generatedModel, generatedModels } from "./generated";

const dir = mkdtempSync(path.join(tmpdir(), "steer-load-cache-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function copyOf(name: string): string {
  const p = path.join(dir, name);
  copyFileSync(generatedModels[0].path(), p);
  return p;
}

test("the same file with the same options is the same model; other options, or after dispose, a new one", async () => {
  const file = generatedModels[0].path();
  const a = await load(file, { contextSize: 64, threads: 1 });
  const b = await load(path.relative(process.cwd(), file), { threads: 1, contextSize: 64 });
  const c = await load(file, { contextSize: 128, threads: 1 });
  try {
    assert.equal(a, b, "same file (absolute or relative), same options in another order: the model already loaded");
    assert.notEqual(a, c, "another contextSize: another model");
    a.dispose();
    const d = await load(file, { contextSize: 64, threads: 1 });
    assert.notEqual(d, a, "a disposed model is not handed out again");
    assert.equal(d.disposed, false);
    d.dispose();
  } finally {
    c.dispose();
  }
});

test("re-loading a 200 MB model 16 times without dispose keeps resident memory bounded; dispose frees at once", () => {
  const file = generatedModel("big-llama", { arch: "llama", layers: 3, heads: 16, dModel: 1024, dMlp: 4096, seed: 5 });
  const mb = statSync(file).size / 2 ** 20;
  const rounds = 16;
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", path.join(__dirname, "fixtures", "reload-rss.ts"), file, String(rounds)], {
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { base: number; sameObject: boolean; oneLoaded: number; afterDispose: number; fresh: boolean; during: number[]; lastAlive: boolean };
  const report = `model ${mb.toFixed(0)} MB, measured (MB): ${r.stdout.trim()}`;
  assert.ok(m.sameObject, `same file and options gave two models; ${report}`);
  assert.ok(m.oneLoaded - m.base > 0.8 * mb, `one loaded and run model should take about ${mb.toFixed(0)} MB; ${report}`);
  assert.ok(m.afterDispose - m.base < 0.2 * mb, `dispose() should free the model at once; ${report}`);
  assert.ok(m.fresh && m.lastAlive, report);
  const peak = Math.max(...m.during);
  // Kept alive, the models would take rounds x size (3.2 GB); V8 collects a few at a time.
  assert.ok(peak - m.base < 7 * mb, `resident memory grew by ${peak - m.base} MB over ${rounds} loads, expected under ${(7 * mb).toFixed(0)}; ${report}`);
});

test("load() does not hash the file; provenance.sha256 is computed on first read and cached per file version", async () => {
  const file = copyOf("lazy.gguf");
  const expected = createHash("sha256").update(readFileSync(file)).digest("hex");
  const first = await load(file, { contextSize: 32, threads: 1 });
  const second = await load(file, { contextSize: 64, threads: 1 });
  const gone = copyOf("gone.gguf");
  const unread = await load(gone, { contextSize: 32, threads: 1 });
  try {
    assert.equal(first.provenance.sha256, expected);
    assert.equal(JSON.parse(JSON.stringify(first.provenance)).sha256, expected, "the hash shows in JSON");
    unlinkSync(file);
    assert.equal(second.provenance.sha256, expected, "a second model of the same file version reuses the hash");
    // Never read before the file went away: it was not hashed at load.
    unlinkSync(gone);
    assert.throws(() => unread.provenance.sha256, /ENOENT/);
  } finally {
    for (const m of [first, second, unread]) m.dispose();
  }
});

test("weight() reads from the header inspected at load: no GGUF parse per call, nor per load of the same file", async () => {
  const file = copyOf("weights.gguf");
  const addon = nativeAddon();
  const inspect = addon.ggufInspect;
  const readTensor = addon.ggufTensorF32;
  const calls = { inspect: 0, read: 0 };
  addon.ggufInspect = (p) => (calls.inspect++, inspect(p));
  addon.ggufTensorF32 = (...args) => (calls.read++, readTensor(...args));
  try {
    const a = await load(file, { contextSize: 32, threads: 1 });
    const b = await load(file, { contextSize: 64, threads: 1 });
    assert.equal(calls.inspect, 1, `the header was parsed ${calls.inspect} times for two loads of one file`);
    for (const name of ["W_E", "blocks.0.attn.W_Q", "blocks.1.mlp.W_out", "blocks.0.attn.W_Q"]) a.weight(name);
    assert.equal(calls.inspect, 1, `weight() parsed the header again (${calls.inspect} parses)`);
    assert.equal(calls.read, 4, `4 weight() calls read ${calls.read} tensors`);
    const w = b.weight("blocks.0.ln1.w");
    assert.ok(w.data.every((v) => v === 1), "the random generator's norm weights are 1: the offsets are right");
    a.dispose();
    b.dispose();
  } finally {
    addon.ggufInspect = inspect;
    addon.ggufTensorF32 = readTensor;
  }
});
