// Engine benchmark on a GPT-2-small-shaped model (12 layers, 12 heads, d_model 768, d_mlp 3072,
// small vocabulary), generated at bench time. Prints medians side by side with their ratios:
//  (1) hook overhead: runWithCache of every layer's hook_resid_post and attn.hook_z vs a plain pass;
//  (2) zero-ablating each of the 144 heads: one runBatch vs one run per head;
//  (3) that sweep's tokens/s as a fraction of llama.cpp's plain 512-token prompt processing.
// Env: BENCH_THREADS (default: all cores), BENCH_RUNS (default 7), BENCH_BATCH (tokens per decode,
// default 512), BENCH_LAYERS (default 12; fewer for a quick check of the script itself).
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { load, zero, type BatchItem } from "../src/engine/index";
import { writeRandomModel } from "../src/models/index";

const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const runs = Number(process.env.BENCH_RUNS ?? 7);
const batchSize = Number(process.env.BENCH_BATCH ?? 512);
const layers = Number(process.env.BENCH_LAYERS ?? 12);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function time(fn: () => Promise<unknown>, n = runs): Promise<number> {
  await fn(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "steer-bench-"));
  try {
    const file = path.join(dir, "gpt2-small-shape.gguf");
    writeRandomModel(file, { arch: "gpt2", layers, heads: 12, dModel: 768, dMlp: 3072, ctx: 1024, seed: 11 });
    const model = await load(file, { contextSize: 4096, batchSize, threads });
    const { nLayers, nHeads } = model.config;
    const prompt = model.tokenize("When Mary and John went to the store John gave a drink to the little girl and", { bos: true }).slice(0, 16);
    while (prompt.length < 16) prompt.push(prompt[prompt.length - 1]);
    console.log(`GPT-2-small shape (${layers}L, 12H, d_model 768, d_mlp 3072, vocab ${model.config.nVocab}), ${threads} threads, batch ${batchSize} tokens, medians of ${runs} runs`);
    console.log(`llama.cpp ${model.provenance.llamaCppVersion}, 16-token prompt`);

    // (1) hook overhead
    const names = Array.from({ length: nLayers }, (_, l) => [`blocks.${l}.hook_resid_post`, `blocks.${l}.attn.hook_z`]).flat();
    const plain = await time(() => model.runWithCache(prompt, { names: [], logits: "last" }));
    const observed = await time(() => model.runWithCache(prompt, { names, logits: "last" }));
    console.log(`(1) plain forward ${plain.toFixed(2)} ms | observing ${names.length} hooks ${observed.toFixed(2)} ms | ratio ${(observed / plain).toFixed(3)}x (goal <= 1.1x)`);

    // (2) 144 single-head ablations
    const items: BatchItem[] = [];
    for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) items.push({ input: prompt, names: [], logits: "last", hooks: { [`blocks.${l}.attn.hook_z`]: zero({ heads: [h] }) } });
    const sweepRuns = Math.max(3, Math.ceil(runs / 2));
    const batched = await time(() => model.runBatch(items), sweepRuns);
    const oneByOne = await time(async () => {
      for (const item of items) await model.runWithHooks(item.input, item.hooks!, { logits: "last" });
    }, 3);
    console.log(`(2) ${items.length} ablations: runBatch ${batched.toFixed(0)} ms | one run per head ${oneByOne.toFixed(0)} ms | speed-up ${(oneByOne / batched).toFixed(2)}x (goal >= 2x)`);

    // (3) against llama.cpp's plain prompt processing
    const long = Array.from({ length: 512 }, (_, i) => prompt[i % prompt.length]);
    const pp = await time(() => model.runWithCache(long, { names: [], logits: "last" }));
    const ppRate = 512 / (pp / 1000);
    const sweepRate = (items.length * prompt.length) / (batched / 1000);
    console.log(`(3) plain 512-token forward ${pp.toFixed(0)} ms = ${ppRate.toFixed(0)} tok/s | sweep ${sweepRate.toFixed(0)} tok/s | fraction ${(sweepRate / ppRate).toFixed(2)} (goal >= 0.8)`);
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
