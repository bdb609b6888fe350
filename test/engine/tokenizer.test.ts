// Tokenization against llama.cpp's own tokenizer test vectors (models/ggml-vocab-*.gguf.inp/.out in
// the vendored llama.cpp source), loading the vocabulary-only GGUF files.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { load } from "../../src/engine/index";
import { vocabDir } from "./helpers";

/** As tests/test-tokenizer-0.cpp reads them: inputs split on a separator line, one output line per input. */
function vectors(base: string): { text: string; ids: number[] }[] {
  const inputs = readFileSync(base + ".inp", "utf8").split("\n__ggml_vocab_test__\n");
  const outputs = readFileSync(base + ".out", "utf8").split("\n");
  if (inputs[inputs.length - 1].endsWith("\n__ggml_vocab_test__")) inputs[inputs.length - 1] = inputs[inputs.length - 1].slice(0, -"\n__ggml_vocab_test__".length);
  return inputs.map((text, i) => ({ text, ids: outputs[i].trim() === "" ? [] : outputs[i].trim().split(/\s+/).map(Number) }));
}

for (const vocab of ["gpt-2", "llama-spm", "qwen2"]) {
  const file = path.join(vocabDir, `ggml-vocab-${vocab}.gguf`);
  const skip = existsSync(file + ".inp") ? false : `skipped: ${file}.inp is absent (it comes with the vendored llama.cpp; run node scripts/build-native.mjs)`;
  test(`tokenize matches llama.cpp's test vectors for ${vocab}`, { skip }, async () => {
    const model = await load(file, { vocabOnly: true });
    try {
      const cases = vectors(path.join(vocabDir, `ggml-vocab-${vocab}.gguf`));
      assert.ok(cases.length > 10, `only ${cases.length} test vectors found`);
      for (const { text, ids } of cases) assert.deepEqual(model.tokenize(text, { bos: false }), ids, `tokenize(${JSON.stringify(text)})`);
      const sample = model.tokenize("Hello world, this is a test", { bos: false });
      // SentencePiece detokenization drops the leading space its tokenizer adds; the pieces keep it.
      assert.equal(model.toStr(sample).join("").trimStart(), model.detokenize(sample));
      assert.equal(model.detokenize(sample), "Hello world, this is a test");
    } finally {
      model.dispose();
    }
  });
}
