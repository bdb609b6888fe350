// Every bad input gets its own typed error whose message names the problem and the fix,
// and the model keeps working afterwards.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { gguf, writeGGUFFile } from "../../src/gguf/index";
import {
  BadArgumentError,
  ContextOverflowError,
  DisposedError,
  HookShapeError,
  load,
  ModelNotFoundError,
  NotGgufError,
  OutOfRangeError,
  quantize,
  Tensor,
  TruncatedGgufError,
  UnknownHookError,
  UnknownWeightError,
  QuantizeError,
  UnsupportedArchitectureError,
  zero,
  bundledModelPath,
  type Model,
} from "../../src/engine/index";
import { prompt, skipStories, stories } from "./helpers";

let dir: string;
let model: Model;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "steer-engine-errors-"));
  if (!skipStories) model = await load(stories, { contextSize: 64, threads: 1 });
});
after(() => {
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, bytes: Uint8Array | string): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const loadCases: { what: string; path: () => string; error: new (...args: never[]) => Error; message: RegExp }[] = [
  { what: "a missing file", path: () => path.join(dir, "nope.gguf"), error: ModelNotFoundError, message: /not found: .*nope\.gguf\. Check the path/ },
  { what: "a text file", path: () => file("notes.gguf", "hello, I am not a model"), error: NotGgufError, message: /not a GGUF model file \(it starts with "hell", not "GGUF"\)/ },
  { what: "an empty file", path: () => file("empty.gguf", ""), error: NotGgufError, message: /only 0 bytes long/ },
  { what: "a GGUF cut inside its header", path: () => file("head.gguf", readFileSync(stories).subarray(0, 200)), error: TruncatedGgufError, message: /damaged or incomplete.*header or metadata.*Download or copy it again/ },
  { what: "a GGUF missing its tensor data", path: () => file("half.gguf", readFileSync(stories).subarray(0, 600_000)), error: TruncatedGgufError, message: /tensors need 1185376 bytes but the file has 600000/ },
  {
    what: "an unsupported architecture",
    path: () => {
      const p = path.join(dir, "bert.gguf");
      writeGGUFFile(p, { metadata: [["general.architecture", gguf.str("bert")]], tensors: [] });
      return p;
    },
    error: UnsupportedArchitectureError,
    message: /"bert" is not supported.*Supported: llama, qwen2, gpt2/,
  },
  {
    what: "a mixture-of-experts llama",
    path: () => {
      const p = path.join(dir, "moe.gguf");
      writeGGUFFile(p, { metadata: [["general.architecture", gguf.str("llama")], ["llama.expert_count", gguf.u32(8)]], tensors: [] });
      return p;
    },
    error: UnsupportedArchitectureError,
    message: /"llama with 8 experts \(mixture of experts\)" is not supported/,
  },
];

for (const c of loadCases) {
  test(`loading ${c.what} throws ${c.error.name}`, { skip: skipStories }, async () => {
    await assert.rejects(load(c.path()), (e: Error) => {
      assert.ok(e instanceof c.error, `got ${e.name}: ${e.message}`);
      assert.match(e.message, c.message);
      return true;
    });
  });
}

const runCases: { what: string; run: (m: Model) => Promise<unknown>; error: new (...args: never[]) => Error; message: RegExp }[] = [
  { what: "a misspelled hook name", run: (m) => m.runWithHooks(prompt, { "blocks.0.hook_resid_psot": () => undefined }), error: UnknownHookError, message: /Unknown hook name "blocks\.0\.hook_resid_psot"\. Did you mean "blocks\.0\.hook_resid_post"/ },
  { what: "a cache name that does not exist", run: (m) => m.runWithCache(prompt, { names: ["blocks.1.attn.hook_zz"] }), error: UnknownHookError, message: /Did you mean "blocks\.1\.attn\.hook_z"/ },
  { what: "a layer out of range", run: (m) => m.runWithHooks(prompt, { "blocks.9.hook_resid_post": () => undefined }), error: OutOfRangeError, message: /Layer 9 is out of range: this model has 5 \(valid: 0\.\.4\)/ },
  { what: "a head out of range", run: (m) => m.runWithHooks(prompt, { "blocks.1.attn.hook_z": zero({ heads: [8] }) }), error: OutOfRangeError, message: /Head 8 is out of range: this model has 8/ },
  { what: "a hook returning the wrong shape", run: (m) => m.runWithHooks(prompt, { "blocks.1.hook_resid_mid": () => new Tensor([2, 64]) }), error: HookShapeError, message: /blocks\.1\.hook_resid_mid returned shape \[2, 64\], expected \[30, 64\]/ },
  { what: "a hook returning a wrong-length array", run: (m) => m.runWithHooks(prompt, { "blocks.1.attn.hook_z": () => new Float32Array(3) }), error: HookShapeError, message: /a Float32Array of 3 values \(needs 1920\)/ },
  { what: "an async hook", run: (m) => m.runWithHooks(prompt, { "blocks.1.hook_resid_mid": (async () => undefined) as never }), error: BadArgumentError, message: /returned a Promise\. Hooks run inside llama\.cpp's forward pass and must be synchronous/ },
  { what: "a prompt longer than the context", run: (m) => m.runWithCache(prompt.repeat(12), { names: [] }), error: ContextOverflowError, message: /has 3\d\d tokens but the context holds 256\. Shorten the prompt or load the model with a larger contextSize/ },
  { what: "a generation longer than the context", run: (m) => m.generate(prompt, { maxTokens: 300 }), error: ContextOverflowError, message: /The prompt plus maxTokens come to 330 tokens but the context holds 256/ },
  { what: "a token id out of range", run: (m) => m.runWithCache([1, 600], { names: [] }), error: OutOfRangeError, message: /Token id 600 is out of range/ },
  { what: "an empty input", run: (m) => m.runWithCache([], { names: [] }), error: BadArgumentError, message: /input is empty/ },
  { what: "an unknown quantization type", run: async () => quantize(stories, path.join(dir, "q.gguf"), "Q7_3"), error: BadArgumentError, message: /Unknown quantization type "Q7_3"\. Use one of: .*Q8_0/ },
  { what: "a misspelled weight name", run: async (m) => m.weight("blocks.0.attn.W_P"), error: UnknownWeightError, message: /Unknown weight "blocks\.0\.attn\.W_P"\. Did you mean .*"blocks\.0\.attn\.W_[QKVO]".* model\.weightNames\(\) lists them all/ },
  { what: "a quantize into a missing folder", run: async () => quantize(stories, path.join(dir, "no-such-folder", "q.gguf"), "Q8_0"), error: QuantizeError, message: /Quantizing .*stories260K\.gguf to Q8_0 failed\..*destination folder is writable/s },
  { what: "a hook that throws", run: (m) => m.runWithHooks(prompt, { "blocks.2.hook_attn_out": () => { throw new RangeError("my bug"); } }), error: RangeError, message: /my bug/ },
];

for (const c of runCases) {
  test(`${c.what} throws ${c.error.name} and the model keeps working`, { skip: skipStories }, async () => {
    const before = await model.runWithCache(prompt, { names: [], logits: "last" });
    await assert.rejects(c.run(model), (e: Error) => {
      assert.ok(e instanceof c.error, `got ${e.name}: ${e.message}`);
      assert.match(e.message, c.message);
      return true;
    });
    const afterwards = await model.runWithCache(prompt, { names: [], logits: "last" });
    assert.deepEqual(afterwards.logits.data, before.logits.data);
  });
}

test("each kind of failure has its own error code", { skip: skipStories }, async () => {
  const codeOf = async (run: () => unknown) => {
    try {
      await run();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return "no error";
  };
  assert.equal(await codeOf(() => model.weight("blocks.0.attn.W_P")), "unknown-weight");
  assert.equal(await codeOf(() => model.runWithHooks(prompt, { "blocks.0.hook_resid_psot": () => undefined })), "unknown-hook");
  assert.equal(await codeOf(() => quantize(stories, path.join(dir, "no-such-folder", "q.gguf"), "Q8_0")), "quantize-failed");
  assert.equal(await codeOf(() => load(path.join(dir, "nope.gguf"))), "model-not-found");
});

test("asking for GPU layers on a CPU-only build says so instead of silently running on the CPU", { skip: skipStories }, async () => {
  await assert.rejects(load(stories, { gpuLayers: 99 }), (e: Error) => e instanceof BadArgumentError && /runs on the CPU only: .*Devices loaded: CPU.*Load with gpuLayers: 0/.test(e.message));
});

test("a disposed model says so, and dispose is idempotent", { skip: skipStories }, async () => {
  const copy = path.join(dir, "copy.gguf");
  copyFileSync(stories, copy);
  const m = await load(copy, { contextSize: 32, threads: 1 });
  m.dispose();
  m.dispose();
  await assert.rejects(m.runWithCache("Hi"), DisposedError);
  assert.throws(() => m.tokenize("Hi"), /disposed\. Load it again/);
});

test("past a learned position table (gpt2) a prompt or generation is refused instead of aborting the process", async () => {
  const m = await load(bundledModelPath(), { threads: 1 });
  try {
    assert.equal(m.config.nCtxTrain, 128);
    const long = new Array<number>(m.config.nCtxTrain + 1).fill(m.tokenize("When", { bos: false })[0]);
    await assert.rejects(m.runWithCache(long, { logits: "last" }), (e: Error) => e instanceof ContextOverflowError && /129 tokens but this model's learned position embeddings cover only 128 positions/.test(e.message));
    await assert.rejects(m.generate("When", { maxTokens: 200 }), (e: Error) => e instanceof ContextOverflowError && /come to 202 tokens .* only 128 positions/.test(e.message));
    const ok = await m.runWithCache(long.slice(1), { logits: "last" });
    assert.deepEqual([...ok.logits.shape], [1, m.config.nVocab], "128 positions still run");
  } finally {
    m.dispose();
  }
});
