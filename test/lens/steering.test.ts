// Steering vectors: contrastive directions checked against direct computations, the control-vector
// GGUF format checked with ggml's own reader and gguf-py's writer, and our hooks checked against
// llama.cpp's own control-vector path (llama_set_adapter_cvec) on the same vector.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { bundledModelPath, load, type Model } from "../../src/engine/index";
import { nativeAddon } from "../../src/engine/native";
import { GGMLType, gguf, readGGUFHeader, writeGGUFFile } from "../../src/gguf/index";
import { steering, SteeringVector, type ContrastPair } from "../../src/lens/index";
import { relativeError, repoRoot, skipStories, stories } from "../engine/helpers";

const toyPairs: ContrastPair[] = [
  ["The cat was happy", "The cat was sad"],
  ["The dog was happy", "The dog was sad"],
  ["She was happy", "She was sad"],
  ["The girl was happy", "The girl was sad"],
  ["He was happy", "He was sad"],
];
const storyPairs: ContrastPair[] = [
  ["Lily was very happy", "Lily was very sad"],
  ["The dog was happy and played", "The dog was sad and cried"],
  ["Tom smiled and laughed", "Tom cried and frowned"],
  ["It was a happy day", "It was a sad day"],
  ["She felt happy", "She felt sad"],
  ["The boy was glad", "The boy was angry"],
];

let toy: Model;
let story: Model | undefined;
let dir: string;

before(async () => {
  toy = await load(bundledModelPath(), { threads: 1 });
  if (!skipStories) story = await load(stories, { contextSize: 256, threads: 1 });
  dir = mkdtempSync(path.join(tmpdir(), "steer-steering-"));
});
after(() => {
  toy?.dispose();
  story?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The activation at blocks.L.hook_resid_post, last token or mean over tokens, one run per prompt. */
async function activation(model: Model, prompt: string, layer: number, position: "last" | "mean"): Promise<Float64Array> {
  const t = (await model.runWithCache(prompt, { names: [`blocks.${layer}.hook_resid_post`] })).cache.get(`blocks.${layer}.hook_resid_post`);
  const [n, d] = t.shape;
  const out = new Float64Array(d);
  const rows = position === "last" ? [n - 1] : [...Array(n).keys()];
  for (const r of rows) for (let j = 0; j < d; j++) out[j] += t.data[r * d + j] / rows.length;
  return out;
}

async function differences(model: Model, pairs: ContrastPair[], layer: number, position: "last" | "mean" = "last"): Promise<Float64Array[]> {
  const out = [];
  for (const [p, n] of pairs) {
    const a = await activation(model, p as string, layer, position);
    const b = await activation(model, n as string, layer, position);
    out.push(a.map((x, j) => x - b[j]));
  }
  return out;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const norm = (a: ArrayLike<number>) => Math.sqrt(dot(a, a));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test("defaults follow repeng: every block but the first, pca, last token", async () => {
  const v = await steering.contrast(toy, toyPairs);
  assert.deepEqual(v.layers, [1, 2, 3], `layers: expected [1, 2, 3], got [${v.layers}]`);
  assert.equal(v.method, "pca");
  assert.equal(v.position, "last");
  assert.equal(v.modelHint, "gpt2");
  assert.equal(v.nEmbd, 192);
});

test("mean-diff equals the mean of (positive - negative) computed run by run", async () => {
  for (const position of ["last", "mean"] as const) {
    const v = await steering.contrast(toy, toyPairs, { method: "mean-diff", position, layers: [0, 2, 3] });
    for (const layer of [0, 2, 3]) {
      const diffs = await differences(toy, toyPairs, layer, position);
      const expected = new Float64Array(192).map((_, j) => diffs.reduce((s, d) => s + d[j], 0) / diffs.length);
      const got = v.directions.get(layer)!;
      const err = maxAbsDiff(got, expected) / norm(expected);
      assert.ok(norm(expected) > 1e-3, `layer ${layer}: the contrast should differ (norm ${norm(expected)})`);
      assert.ok(err < 1e-5, `${position} layer ${layer}: expected the direct mean difference, got relative error ${err.toExponential(2)}`);
    }
  }
});

test("excludeDims zeroes those dimensions and leaves the others as they were", async () => {
  const full = await steering.contrast(toy, toyPairs, { method: "mean-diff", layers: [2] });
  const base = full.directions.get(2)!;
  // the two largest components of the contrast, so that leaving them out is a real change
  const big = [...base.keys()].sort((a, b) => Math.abs(base[b]) - Math.abs(base[a])).slice(0, 2);
  const cut = (await steering.contrast(toy, toyPairs, { method: "mean-diff", layers: [2], excludeDims: big })).directions.get(2)!;
  for (const j of big) assert.equal(cut[j], 0, `dim ${j}: expected 0, got ${cut[j]} (was ${base[j]})`);
  for (let j = 0; j < 192; j++) if (!big.includes(j)) assert.equal(cut[j], base[j], `dim ${j}: expected ${base[j]}, got ${cut[j]}`);
  const pca = await steering.contrast(toy, toyPairs, { layers: [2], excludeDims: big });
  for (const j of big) assert.equal(pca.directions.get(2)![j], 0, `pca dim ${j}: expected 0`);
  assert.deepEqual(pca.toJSON().excludeDims, big);
});

for (const which of ["toy", "stories"] as const) {
  test(`pca (${which}): unit norm, positives project higher, and it is the top singular direction of the differences`, { skip: which === "stories" && skipStories }, async () => {
    const model = which === "toy" ? toy : story!;
    const pairs = which === "toy" ? toyPairs : storyPairs;
    const v = await steering.contrast(model, pairs);
    for (const layer of v.layers) {
      const d = v.directions.get(layer)!;
      assert.ok(Math.abs(norm(d) - 1) < 1e-5, `layer ${layer}: expected unit norm, got ${norm(d)}`);
      const diffs = await differences(model, pairs, layer);
      const proj = diffs.map((x) => dot(x, d));
      const higher = proj.filter((p) => p > 0).length;
      assert.ok(higher * 2 >= pairs.length, `layer ${layer}: expected positives to project higher on most pairs, got ${higher} of ${pairs.length} (${proj.map((p) => p.toFixed(3))})`);
      const meanProj = proj.reduce((a, b) => a + b, 0) / proj.length;
      assert.ok(meanProj > 0, `layer ${layer}: expected positives to project higher on average, got mean (positive - negative) projection ${meanProj}`);
      // D^T D v = lambda v (an eigenvector), and no difference direction captures more of the spread.
      const dtdv = new Float64Array(d.length);
      for (const x of diffs) for (let j = 0; j < d.length; j++) dtdv[j] += dot(x, d) * x[j];
      const lambda = dot(dtdv, d);
      const residual = norm(dtdv.map((y, j) => y - lambda * d[j])) / lambda;
      assert.ok(residual < 1e-4, `layer ${layer}: expected an eigenvector of D^T D, residual ${residual.toExponential(2)}`);
      for (const x of diffs) {
        const u = x.map((y) => y / norm(x));
        const spread = diffs.reduce((s, y) => s + dot(y, u) ** 2, 0);
        assert.ok(spread <= lambda * (1 + 1e-6), `layer ${layer}: a difference direction captures ${spread} > lambda ${lambda}`);
      }
    }
  });
}

test("save writes llama.cpp's control-vector GGUF; ggml reads it back as written, and load round-trips it", async () => {
  const v = await steering.contrast(toy, toyPairs, { method: "mean-diff" });
  const file = path.join(dir, "toy.gguf");
  v.save(file);
  const info = nativeAddon().ggufInspect(file);
  assert.ok(info, "ggml's gguf reader rejected the file");
  assert.deepEqual(info.kv, { "general.architecture": "controlvector", "controlvector.model_hint": "gpt2", "controlvector.layer_count": 3 });
  assert.deepEqual(
    info.tensors.map((t) => [t.name, t.type, t.ne]),
    [1, 2, 3].map((l) => [`direction.${l}`, "f32", [192, 1, 1, 1]]),
  );
  const header = readGGUFHeader(file);
  assert.equal(header.version, 3);
  const bytes = readFileSync(file);
  for (const t of info.tensors) {
    const l = Number(t.name.split(".")[1]);
    const raw = bytes.subarray(info.dataOffset + t.offset, info.dataOffset + t.offset + t.size);
    assert.deepEqual(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)), v.directions.get(l), `${t.name}: bytes differ from the direction`);
  }
  const back = steering.load(file);
  assert.equal(back.modelHint, "gpt2");
  assert.equal(back.method, "file");
  assert.deepEqual(back.layers, [1, 2, 3]);
  for (const l of back.layers) assert.deepEqual(back.directions.get(l), v.directions.get(l), `direction ${l} changed in the round trip`);
});

const ggufPy = path.join(repoRoot, "native", "vendor", "llama.cpp", "gguf-py");
const python = spawnSync("python3", ["-c", "import numpy"], { env: { ...process.env, PYTHONPATH: ggufPy } });
const skipPython = python.status !== 0 || !existsSync(ggufPy) ? `skipped: needs python3 with numpy and ${ggufPy} (node scripts/build-native.mjs unpacks it)` : false;

test("load reads a file written the way repeng's export_gguf writes it (gguf-py), layers in its order", { skip: skipPython }, () => {
  const file = path.join(dir, "repeng.gguf");
  const script = path.join(dir, "write.py");
  writeFileSync(
    script,
    [
      "import sys, numpy as np, gguf",
      "w = gguf.GGUFWriter(sys.argv[1], 'controlvector')",
      "w.add_string('controlvector.model_hint', 'llama')",
      "w.add_uint32('controlvector.layer_count', 3)",
      "for layer in [3, 2, 1]:",
      "    w.add_tensor(f'direction.{layer}', (np.arange(64, dtype=np.float32) - 32) * layer / 7)",
      "w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()",
    ].join("\n"),
  );
  const r = spawnSync("python3", [script, file], { env: { ...process.env, PYTHONPATH: ggufPy }, encoding: "utf8" });
  assert.equal(r.status, 0, `gguf-py failed: ${r.stderr}`);
  const v = steering.load(file);
  assert.equal(v.modelHint, "llama");
  assert.deepEqual(v.layers, [1, 2, 3]);
  for (const l of [1, 2, 3]) {
    const expected = Float32Array.from({ length: 64 }, (_, j) => Math.fround(Math.fround(j - 32) * l) / 7);
    assert.ok(maxAbsDiff(v.directions.get(l)!, expected) < 1e-6, `direction ${l}: expected (j - 32) * ${l} / 7`);
  }
});

/**
 * The vector saved and loaded again, applied (a) by our hooks at blocks.L.hook_resid_post and (b) by
 * llama.cpp's llama_set_adapter_cvec: all logits must agree. Then clearing restores the plain run.
 */
async function checkAgainstLlamaCpp(model: Model, v: SteeringVector, prompt: string, strength: number) {
  const file = path.join(dir, `cvec-${model.config.arch}-${v.layers.join("")}.gguf`);
  v.save(file);
  const loaded = steering.load(file);
  const plain = (await model.runWithCache(prompt, { names: [] })).logits;
  const hooked = (await model.runWithHooks(prompt, loaded.hooks({ strength }))).logits;
  loaded.applyAsControlVector(model, { strength });
  let native;
  try {
    native = (await model.runWithCache(prompt, { names: [] })).logits;
  } finally {
    model.setControlVector(null);
  }
  const cleared = (await model.runWithCache(prompt, { names: [] })).logits;
  const moved = relativeError(hooked, plain);
  const err = relativeError(native, hooked);
  assert.ok(moved > 1e-2, `the steering should change the logits (relative change ${moved.toExponential(2)})`);
  assert.ok(err <= 1e-4, `llama.cpp's control vector vs our hooks (layers ${loaded.layers}, strength ${strength}): expected relative error <= 1e-4, got ${err.toExponential(2)}`);
  assert.equal(relativeError(cleared, plain), 0, "after setControlVector(null) the logits should equal the plain run");
  return { moved, err };
}

test("toy model: a saved vector through llama.cpp's control-vector path equals our hooks (1e-4)", async () => {
  const v = await steering.contrast(toy, toyPairs, { method: "mean-diff" });
  const prompt = "When Mary and John went to the store, John gave a drink to";
  const all = await checkAgainstLlamaCpp(toy, v, prompt, 2);
  // one layer only: catches an off-by-one in the layer-1-first buffer llama.cpp takes
  const one = await checkAgainstLlamaCpp(toy, new SteeringVector({ directions: { 2: v.directions.get(2)! }, modelHint: "gpt2" }), prompt, 3);
  const last = await checkAgainstLlamaCpp(toy, new SteeringVector({ directions: { 3: v.directions.get(3)! }, modelHint: "gpt2" }), prompt, 3);
  // llama.cpp's layer range (--control-vector-layer-range 2 2): only layer 2 of the whole vector
  toy.setControlVector(v.controlVectorData(toy.config, 3), { layerStart: 2, layerEnd: 2 });
  let ranged;
  try {
    ranged = (await toy.runWithCache(prompt, { names: [] })).logits;
  } finally {
    toy.setControlVector(null);
  }
  const layer2 = (await toy.runWithHooks(prompt, v.hooks({ strength: 3, layers: [2] }))).logits;
  const rangeErr = relativeError(ranged, layer2);
  assert.ok(rangeErr <= 1e-4, `layer range 2..2: expected the logits of hooks at layer 2 only, got relative error ${rangeErr.toExponential(2)}`);
  assert.throws(() => toy.setControlVector(v.controlVectorData(toy.config), { layerStart: 0 }), /layerStart must be a layer from 1 to 3 \(llama.cpp never steers layer 0\), got 0/);
  console.log(`toy: all layers moved ${all.moved.toExponential(2)} err ${all.err.toExponential(2)}; layer 2 ${one.err.toExponential(2)}; layer 3 ${last.err.toExponential(2)}`);
});

test("stories260K: a saved vector through llama.cpp's control-vector path equals our hooks (1e-4)", { skip: skipStories }, async () => {
  const v = await steering.contrast(story!, storyPairs);
  const prompt = "Once upon a time, there was a little girl named Lily. She";
  const all = await checkAgainstLlamaCpp(story!, v, prompt, 4);
  const one = await checkAgainstLlamaCpp(story!, new SteeringVector({ directions: { 3: v.directions.get(3)! }, modelHint: "llama" }), prompt, 6);
  console.log(`stories: all layers moved ${all.moved.toExponential(2)} err ${all.err.toExponential(2)}; layer 3 ${one.err.toExponential(2)}`);
});

test("steering changes greedy generation; strength 0 does not; llama.cpp's path generates the same", { skip: skipStories }, async () => {
  const model = story!;
  const v = await steering.contrast(model, storyPairs);
  const prompt = "Once upon a time, there was a little girl named Lily. She";
  const opts = { maxTokens: 24, temperature: 0 };
  const plain = await model.generate(prompt, opts);
  const zero = await model.generate(prompt, { ...opts, hooks: v.hooks({ strength: 0 }) });
  assert.deepEqual(zero.tokens, plain.tokens, `strength 0: expected ${JSON.stringify(plain.text)}, got ${JSON.stringify(zero.text)}`);
  const steered = await model.generate(prompt, { ...opts, hooks: v.hooks({ strength: 1 }) });
  assert.notDeepEqual(steered.tokens, plain.tokens, `strength 1 should change ${JSON.stringify(plain.text)}`);
  v.applyAsControlVector(model, { strength: 1 });
  let native;
  try {
    native = await model.generate(prompt, opts);
  } finally {
    model.setControlVector(null);
  }
  assert.deepEqual(native.tokens, steered.tokens, `llama.cpp's control vector: expected ${JSON.stringify(steered.text)}, got ${JSON.stringify(native.text)}`);
  console.log(`plain: ${JSON.stringify(plain.text)}\nsteered (1): ${JSON.stringify(steered.text)}`);
});

test("toy model: steering changes greedy generation, strength 0 does not", async () => {
  const v = await steering.contrast(toy, toyPairs);
  const prompt = "The cat sat on the mat. The dog";
  const opts = { maxTokens: 12, temperature: 0 };
  const plain = await toy.generate(prompt, opts);
  const zero = await toy.generate(prompt, { ...opts, hooks: v.hooks({ strength: 0 }) });
  assert.deepEqual(zero.tokens, plain.tokens, `strength 0: expected ${JSON.stringify(plain.text)}, got ${JSON.stringify(zero.text)}`);
  const steered = await toy.generate(prompt, { ...opts, hooks: v.hooks({ strength: 20 }) });
  assert.notDeepEqual(steered.tokens, plain.tokens, `strength 20 should change ${JSON.stringify(plain.text)}`);
  console.log(`toy plain: ${JSON.stringify(plain.text)}\ntoy steered (20): ${JSON.stringify(steered.text)}`);
});

test("a vector of the wrong size fails clearly, by hooks and by llama.cpp's path", async () => {
  const wrong = new SteeringVector({ directions: { 1: new Float32Array(64).fill(1) }, modelHint: "llama" });
  await assert.rejects(toy.runWithHooks("The cat", wrong.hooks()), /has 64 values per layer \(made for a llama model\), but blocks\.1\.hook_resid_post of this model has d_model 192: use a vector made for this model/);
  assert.throws(() => wrong.applyAsControlVector(toy), /has 64 values per layer.*d_model 192/);
  assert.throws(() => toy.setControlVector(new Float32Array(100)), /d_model \(192\) values per layer from layer 1 on, at most 3 layers \(576 values\); got 100 values/);
  const farLayer = new SteeringVector({ directions: { 7: new Float32Array(192) } });
  assert.throws(() => farLayer.applyAsControlVector(toy), /steers layer 7, but the model has 4 layers/);
  await assert.rejects(toy.runWithHooks("The cat", farLayer.hooks()), /Layer 7 is out of range/);
});

test("bad files and bad arguments say what is wrong", async () => {
  assert.throws(() => steering.load(bundledModelPath()), /is not a control vector: its general\.architecture is "gpt2".*looks like a model/);
  assert.throws(() => steering.load(path.join(dir, "missing.gguf")), /not a readable control vector: cannot open/);
  const cvFile = (name: string, tensors: Parameters<typeof writeGGUFFile>[1]["tensors"]) => {
    const f = path.join(dir, name);
    writeGGUFFile(f, { metadata: [["general.architecture", gguf.str("controlvector")], ["controlvector.model_hint", gguf.str("llama")]], tensors });
    return f;
  };
  const f32 = new Float32Array(8);
  assert.throws(() => steering.load(cvFile("zero.gguf", [{ name: "direction.0", dims: [8], type: GGMLType.F32, data: f32 }])), /direction\.0 steers layer 0, which llama\.cpp never steers/);
  assert.throws(() => steering.load(cvFile("f16.gguf", [{ name: "direction.1", dims: [8], type: GGMLType.F16, data: f32 }])), /direction\.1 is F16, not F32/);
  assert.throws(() => steering.load(cvFile("2d.gguf", [{ name: "direction.1", dims: [4, 2], type: GGMLType.F32, data: f32 }])), /has shape \[4, 2\], not one dimension/);
  assert.throws(() => steering.load(cvFile("name.gguf", [{ name: "dir.1", dims: [8], type: GGMLType.F32, data: f32 }])), /dir\.1 is not named direction\.<layer>/);
  assert.throws(() => steering.load(cvFile("empty.gguf", [])), /no direction tensors/);
  assert.throws(() => steering.load(cvFile("size.gguf", [{ name: "direction.1", dims: [8], type: GGMLType.F32, data: f32 }, { name: "direction.2", dims: [6], type: GGMLType.F32, data: f32.subarray(0, 6) }])), /direction\.2 has 6 values where earlier directions have 8/);
  const layer0 = new SteeringVector({ directions: { 0: new Float32Array(192), 1: new Float32Array(192) } });
  assert.throws(() => layer0.save(path.join(dir, "l0.gguf")), /cannot steer layer 0/);
  assert.throws(() => layer0.applyAsControlVector(toy), /cannot steer layer 0/);
  await assert.rejects(steering.contrast(toy, []), /non-empty list of \[positive, negative\]/);
  await assert.rejects(steering.contrast(toy, [["a"] as unknown as ContrastPair]), /pairs\[0\] must be \[positive, negative\]/);
  await assert.rejects(steering.contrast(toy, toyPairs, { layers: [4] }), /Layer 4 is out of range: this model has 4 blocks/);
  await assert.rejects(steering.contrast(toy, toyPairs, { excludeDims: [192] }), /excludeDims: 192 is not a residual dimension/);
  await assert.rejects(steering.contrast(toy, [["The cat", "The cat"]]), /same activation as its negative/);
  assert.throws(() => new SteeringVector({ directions: { 1: [1, 2], 2: [1, 2, 3] } }), /layer 2 has 3 values, others have 2/);
  const v = new SteeringVector({ directions: { 1: [1, 2] } });
  assert.throws(() => v.hooks({ layers: [2] }), /no direction for layer 2; it has layers 1/);
});

test("display: markdown with layers, norms and method; JSON form", async () => {
  const v = await steering.contrast(toy, toyPairs, { method: "mean-diff" });
  const out = v.toSteerOutput();
  assert.equal(out.items[0].mime, "text/markdown");
  const md = out.items[0].data as string;
  assert.match(md, /mean-diff, made for gpt2/);
  assert.match(md, /5 contrast pairs; last token/);
  for (const l of [1, 2, 3]) assert.match(md, new RegExp(`\\| ${l} \\| \`blocks\\.${l}\\.hook_resid_post\` \\| ${norm(v.directions.get(l)!).toPrecision(4)} \\|`));
  assert.equal(out.metadata.summary, "steering vector (mean-diff, 5 pairs), layers 1-3, d_model 192");
  const json = JSON.parse(JSON.stringify(v));
  assert.deepEqual(json.layers, [1, 2, 3]);
  assert.equal(json.directions["2"].length, 192);
  assert.equal(json.directions["2"][5], v.directions.get(2)![5]);
});
