import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { metaValue, readGGUF } from "../../src/gguf/index";
import { ARCHS, buildVocab, makeRandomModel, MIN_VOCAB, NAMES, tensorShapes, WORDS, writeRandomModel, type RandomModelOptions } from "../../src/models/index";
import { withLlamaCppModel } from "../gguf/llama-cpp";

const dir = mkdtempSync(path.join(tmpdir(), "models-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const small = (arch: RandomModelOptions["arch"], seed = 1): RandomModelOptions => ({ arch, layers: 2, heads: 4, kvHeads: arch === "gpt2" ? 4 : 2, dModel: 32, dMlp: 64, seed, ctx: 64 });

test("the same options give the same bytes; another seed gives other weights", () => {
  for (const arch of ARCHS) {
    const a = makeRandomModel(small(arch, 7));
    assert.equal(Buffer.compare(Buffer.from(a), Buffer.from(makeRandomModel(small(arch, 7)))), 0, `${arch} is not deterministic`);
    const file = path.join(dir, `det-${arch}.gguf`);
    writeRandomModel(file, small(arch, 7));
    assert.equal(Buffer.compare(readFileSync(file), Buffer.from(a)), 0, `${arch}: writeRandomModel and makeRandomModel differ`);
    assert.notEqual(Buffer.compare(Buffer.from(a), Buffer.from(makeRandomModel(small(arch, 8)))), 0, `${arch}: seeds 7 and 8 gave the same file`);
  }
});

const badShapes: [Partial<RandomModelOptions>, RegExp][] = [
  [{ dModel: 30, heads: 4 }, /d_model 30 is not a multiple of heads 4/],
  [{ heads: 4, kvHeads: 3 }, /heads 4 is not a multiple of kv-heads 3/],
  [{ vocab: 100 }, /vocabulary size 100 is too small/],
  [{ layers: 0 }, /layers must be a positive integer/],
  [{ arch: "mamba" as never }, /unknown architecture "mamba"/],
];
for (const [change, message] of badShapes) {
  test(`a bad shape is refused with a clear message: ${JSON.stringify(change)}`, () => {
    assert.throws(() => makeRandomModel({ ...small("llama"), ...change }), message);
  });
}

test("a GPT-2-small shape has GPT-2-small's tensors and parameter count", () => {
  const shapes = tensorShapes({ arch: "gpt2", layers: 12, heads: 12, kvHeads: 12, dModel: 768, dMlp: 3072, vocab: 50257, ctx: 1024 });
  const params = shapes.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0);
  // GPT-2 small has 124,439,808 parameters with a tied output; ours has an untied output matrix
  assert.equal(params, 124439808 + 768 * 50257);
  assert.deepEqual(shapes.find((t) => t.name === "blk.11.attn_qkv.weight")?.dims, [768, 2304]);
});

test("the vocabulary has every word and name as one piece, byte fallback and BOS/EOS", () => {
  const v = buildVocab();
  assert.equal(v.tokens.length, MIN_VOCAB);
  assert.equal(v.tokens[v.bos], "<s>");
  assert.equal(v.tokens[v.word("Mary")], "▁Mary");
  assert.equal(v.tokens.indexOf("<0x0A>"), 3 + 10);
  assert.equal(new Set(v.tokens).size, v.tokens.length, "duplicate tokens");
  assert.equal(buildVocab(1000).tokens.length, 1000);
});

for (const arch of ARCHS) {
  const f16 = arch === "gpt2";
  test(`${arch}${f16 ? " (F16 matrices)" : ""}: loads in llama.cpp, which tokenizes every name and word into one token`, async () => {
    const file = path.join(dir, `load-${arch}.gguf`);
    writeRandomModel(file, { ...small(arch), vocab: 700, f16 });
    const gguf = readGGUF(readFileSync(file));
    assert.equal(metaValue(gguf, "general.architecture"), arch);
    assert.equal(gguf.tensors.find((t) => t.name === "blk.0.ffn_up.weight")?.typeName, f16 ? "F16" : "F32");
    const v = buildVocab(700);
    await withLlamaCppModel(file, (model) => {
      const sentence = "When Mary and John went to the store, John gave a drink to";
      assert.deepEqual(model.tokenize(sentence).map(Number), ["When", "Mary", "and", "John", "went", "to", "the", "store"].map(v.word).concat([v.tokens.indexOf(","), ...["John", "gave", "a", "drink", "to"].map(v.word)]));
      for (const w of [...NAMES, ...WORDS]) assert.deepEqual(model.tokenize(w).map(Number), [v.word(w)], `"${w}"`);
      assert.equal(model.detokenize(model.tokenize(sentence)), sentence);
      assert.deepEqual(model.tokenize("\n").map(Number), [v.tokens.indexOf("▁"), v.tokens.indexOf("<0x0A>")]);
    });
  });
}
