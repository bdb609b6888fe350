// Engine benchmark on a GPT-2-small-shaped model (12 layers, 12 heads, d_model 768, d_mlp 3072,
// small vocabulary), generated at bench time. Prints medians side by side with their ratios:
//  (1) hook overhead: runWithCache of every layer's hook_resid_post and attn.hook_z vs a plain pass;
//  (2) zero-ablating each of the 144 heads: one runBatch vs one run per head;
//  (3) that sweep's tokens/s as a fraction of llama.cpp's plain 512-token prompt processing;
//  (4) thread settings side by side, on the machine as it is and beside a busy neighbour process
//      (one core spinning): the default (threads "auto": the cores free at each run, idle workers
//      sleeping) against llama.cpp's spinning workers (poll 50) on all cores and on all cores but one;
//  (5) a by-position residual patching sweep (resid_pre at every (layer, position) of a 64-token
//      prompt): one runBatch per block of 8 positions with sharedPrefix = the block's first
//      position, against one plain runBatch of every patch;
//  (6) attribution patching of every head (steer.attribute.heads: one gradient pass per prompt) against
//      exact head patching (steer.patch.heads: a forward pass per head), on the model, on a Q8_0 copy,
//      and on a 32 x 32 llama shape (d_model 512, d_head 16: 1,024 heads, so 1,024 exact passes).
//  (7) exact head patching (every head's z from the clean run into the corrupt one) by steer.patch.heads
//      on a llama model of the same shape: on graphs started at each head's layer from the corrupt run's
//      hook_resid_pre (what it chooses on llama and qwen2; it skips the layers below the patched one)
//      against the llama.cpp sweep (STEER_SWEEP=llama.cpp: runBatch of every variant).
// Env: BENCH_THREADS (default "auto"), BENCH_RUNS (default 7), BENCH_BATCH (tokens per decode,
// default 512), BENCH_LAYERS (default 12; fewer for a quick check of the script itself),
// BENCH_ONLY (e.g. "4,5": run only those sections); BENCH_LAYERS also sets the 32 x 32 model's layers.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { load, patch, quantize, zero, type BatchItem, type Model } from "../src/engine/index";
import { attribute, metrics, patch as patching } from "../src/lens/index";
import { writeRandomModel } from "../src/models/index";

const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : "auto";
const runs = Number(process.env.BENCH_RUNS ?? 7);
const batchSize = Number(process.env.BENCH_BATCH ?? 512);
const layers = Number(process.env.BENCH_LAYERS ?? 12);
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map(Number)) : null;
const section = (n: number) => !only || only.has(n);

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
    if (section(1)) {
      const plain = await time(() => model.runWithCache(prompt, { names: [], logits: "last" }));
      const observed = await time(() => model.runWithCache(prompt, { names, logits: "last" }));
      console.log(`(1) plain forward ${plain.toFixed(2)} ms | observing ${names.length} hooks ${observed.toFixed(2)} ms | ratio ${(observed / plain).toFixed(3)}x (goal <= 1.1x)`);
    }

    // (2) 144 single-head ablations
    const items: BatchItem[] = [];
    for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) items.push({ input: prompt, names: [], logits: "last", hooks: { [`blocks.${l}.attn.hook_z`]: zero({ heads: [h] }) } });
    const sweepRuns = Math.max(3, Math.ceil(runs / 2));
    if (section(2) || section(3)) {
      const batched = await time(() => model.runBatch(items), sweepRuns);
      if (section(2)) {
        const oneByOne = await time(async () => {
          for (const item of items) await model.runWithHooks(item.input, item.hooks!, { logits: "last" });
        }, 3);
        console.log(`(2) ${items.length} ablations: runBatch ${batched.toFixed(0)} ms | one run per head ${oneByOne.toFixed(0)} ms | speed-up ${(oneByOne / batched).toFixed(2)}x (goal >= 2x)`);
      }

      // (3) against llama.cpp's plain prompt processing
      const long = Array.from({ length: 512 }, (_, i) => prompt[i % prompt.length]);
      const pp = await time(() => model.runWithCache(long, { names: [], logits: "last" }));
      const ppRate = 512 / (pp / 1000);
      const sweepRate = (items.length * prompt.length) / (batched / 1000);
      console.log(`(3) plain 512-token forward ${pp.toFixed(0)} ms = ${ppRate.toFixed(0)} tok/s | sweep ${sweepRate.toFixed(0)} tok/s | fraction ${(sweepRate / ppRate).toFixed(2)} (goal >= 0.85; ${model.lastRunStats().threads} threads)`);
    }
    if (section(5)) await positionSweep(model);
    if (section(6)) await attributionVsPatching(model, prompt, "F32");
    model.dispose();
    if (section(6)) {
      const q8 = path.join(dir, "gpt2-small-shape-q8_0.gguf");
      await quantize(file, q8, "Q8_0");
      const quantized = await load(q8, { contextSize: 4096, batchSize, threads });
      await attributionVsPatching(quantized, prompt, "Q8_0");
      quantized.dispose();
      await attributionManyHeads(dir);
    }

    if (section(4)) await threadSettings(file, prompt, names);
    if (section(7)) await startedSweep(dir, prompt);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (6) Every head's score by attribution patching (gradients) against exact patching (a pass per head). */
async function attributionVsPatching(model: Model, prompt: number[], label: string, longSweep = false) {
  const corrupt = [...prompt];
  corrupt[3] = prompt[5];
  const metric = metrics.logitDiff(prompt[4], prompt[2]);
  const options = { clean: prompt, corrupt, metric };
  const sweepRuns = Math.max(3, Math.ceil(runs / 2));
  // A sweep that takes minutes is timed once, without a warm-up (llama.cpp's passes need none).
  const exact = longSweep ? await timeOnce(() => patching.heads(model, options)) : await time(() => patching.heads(model, options), sweepRuns);
  const estimated = await time(() => attribute.heads(model, options), sweepRuns);
  const { nLayers, nHeads } = model.config;
  console.log(
    `(6) ${label}: ${nLayers * nHeads} heads by exact patching ${exact.toFixed(0)} ms | by attribution patching ${estimated.toFixed(0)} ms | ` +
      `speed-up ${(exact / estimated).toFixed(1)}x (goal >= 20x; the gap grows with heads and positions)`,
  );
}

/** (6) The gap grows with heads: the same comparison on a generated llama model of 32 layers x 32 heads. */
async function attributionManyHeads(dir: string) {
  const file = path.join(dir, "llama-32x32.gguf");
  const wideLayers = process.env.BENCH_LAYERS ? layers : 32;
  writeRandomModel(file, { arch: "llama", layers: wideLayers, heads: 32, dModel: 512, dMlp: 1024, ctx: 1024, seed: 12 });
  const model = await load(file, { contextSize: 4096, batchSize, threads });
  const prompt = model.tokenize("When Mary and John went to the store John gave a drink to the little girl and", { bos: true }).slice(0, 16);
  while (prompt.length < 16) prompt.push(prompt[prompt.length - 1]);
  // 1,024 exact passes of 32 layers take tens of seconds on 2 idle cores, minutes on busy ones.
  await attributionVsPatching(model, prompt, `llama ${wideLayers}L x 32H (d_model 512, d_head 16)`, true);
  model.dispose();
}

async function timeOnce(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** (4) Each thread setting, idle and beside a process spinning on one core, as ratios to the default. */
async function threadSettings(file: string, prompt: number[], names: string[]) {
  const cores = availableParallelism();
  const settings = [
    { label: `threads "auto", threadPoll 0 (default)`, threads: "auto" as const, threadPoll: 0 },
    { label: `${cores} threads, threadPoll 50 (llama.cpp's)`, threads: cores, threadPoll: 50 },
    { label: `${Math.max(1, cores - 1)} threads, threadPoll 50 (the old default)`, threads: Math.max(1, cores - 1), threadPoll: 50 },
  ];
  const sweep: BatchItem[] = Array.from({ length: 24 }, (_, h) => ({ input: prompt, names: [], logits: "last", hooks: { [`blocks.${h % layers}.attn.hook_z`]: zero({ heads: [h % 12] }) } }));
  const measure = async (m: Model) => ({
    hooks: await time(() => m.runWithCache(prompt, { names, logits: "last" })),
    sweep: await time(() => m.runBatch(sweep), Math.max(3, Math.ceil(runs / 2))),
    used: m.lastRunStats().threads,
  });
  const rows: { label: string; idle: { hooks: number; sweep: number; used: number }; busy: { hooks: number; sweep: number; used: number } }[] = [];
  for (const s of settings) {
    const m = await load(file, { contextSize: 4096, batchSize, threads: s.threads, threadPoll: s.threadPoll });
    try {
      const idle = await measure(m);
      const neighbour = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
      try {
        await new Promise((r) => setTimeout(r, 200));
        rows.push({ label: s.label, idle, busy: await measure(m) });
      } finally {
        neighbour.kill();
      }
    } finally {
      m.dispose();
    }
  }
  const base = rows[0];
  const load1 = readFileSync("/proc/loadavg", "latin1").split(" ")[0];
  console.log(`(4) thread settings (${cores} cores, load average ${load1}): observing ${names.length} hooks on 16 tokens | a ${sweep.length}-item ablation runBatch; ms, and x the default's time in the same case`);
  for (const r of rows) {
    const cell = (v: number, ref: number) => `${v.toFixed(v < 100 ? 1 : 0)} ms (${(v / ref).toFixed(2)}x)`;
    console.log(
      `    ${r.label.padEnd(44)} as is (${r.idle.used} thr): ${cell(r.idle.hooks, base.idle.hooks)} | ${cell(r.idle.sweep, base.idle.sweep)}   ` +
        `busy neighbour (${r.busy.used} thr): ${cell(r.busy.hooks, base.busy.hooks)} | ${cell(r.busy.sweep, base.busy.sweep)}`,
    );
  }
}

/**
 * (5) Activation patching of resid_pre at every (layer, position) of a 64-token prompt from a
 * corrupted run: per position, the 12 layers' items share the prompt's first `position` tokens.
 */
async function positionSweep(model: Model) {
  const n = 64;
  const clean = Array.from({ length: n }, (_, i) => 1 + ((i * 7) % 90));
  const corrupted = clean.map((t, i) => (i % 8 === 3 ? 1 + ((t + 13) % 90) : t));
  const { nLayers } = model.config;
  const names = Array.from({ length: nLayers }, (_, l) => `blocks.${l}.hook_resid_pre`);
  const { cache } = await model.runWithCache(corrupted, { names, logits: "last" });
  const patches = (positions: number[]) =>
    positions.flatMap((pos) => names.map((name): BatchItem => ({ input: clean, names: [], logits: "last", hooks: { [name]: patch(cache.get(name), { positions: [pos] }) } })));
  const block = 8;
  const blocks = Array.from({ length: n / block }, (_, b) => ({ prefix: b * block, items: patches(Array.from({ length: block }, (_, i) => b * block + i)) }));
  const sweepRuns = Math.max(3, Math.ceil(runs / 2));
  const shared = await time(async () => {
    for (const b of blocks) await model.runBatch(b.items, { sharedPrefix: b.prefix });
  }, sweepRuns);
  let decoded = 0;
  let saved = 0;
  for (const b of blocks) {
    await model.runBatch(b.items, { sharedPrefix: b.prefix });
    decoded += model.lastRunStats().decodedTokens;
    saved += model.lastRunStats().sharedPrefixTokens;
  }
  const all = blocks.flatMap((b) => b.items);
  const plain = await time(() => model.runBatch(all), sweepRuns);
  console.log(
    `(5) ${all.length} resid_pre patches on ${n} tokens: one runBatch ${plain.toFixed(0)} ms | a runBatch per ${block} positions with sharedPrefix ${shared.toFixed(0)} ms ` +
      `(${decoded} tokens decoded, ${saved} shared) | speed-up ${(plain / shared).toFixed(2)}x (goal >= 1.5x)`,
  );
}

/**
 * (7) Exact head patching (z, every position) by steer.patch.heads on a GPT-2-small-shaped llama model:
 * on graphs started at each head's layer (what it chooses on llama) against llama.cpp's runBatch
 * (STEER_SWEEP=llama.cpp), runs interleaved so both see the same machine load.
 */
async function startedSweep(dir: string, prompt: number[]) {
  const file = path.join(dir, "llama-gpt2-small-shape.gguf");
  writeRandomModel(file, { arch: "llama", layers, heads: 12, dModel: 768, dMlp: 3072, ctx: 1024, seed: 13 });
  const model = await load(file, { contextSize: 4096, batchSize, threads });
  try {
    const corrupt = [...prompt];
    corrupt[3] = prompt[5];
    const options = { clean: prompt, corrupt, metric: metrics.logitDiff(prompt[4], prompt[2]) };
    const sweep = async (forceLlamaCpp: boolean) => {
      if (forceLlamaCpp) process.env.STEER_SWEEP = "llama.cpp";
      try {
        const t0 = performance.now();
        const r = await patching.heads(model, options);
        return { ms: performance.now() - t0, r };
      } finally {
        delete process.env.STEER_SWEEP;
      }
    };
    // warm-up (the graph's weights load on first use), and the two sweeps' agreement on the metric
    const [g, l] = [await sweep(false), await sweep(true)];
    const { clean, corrupt: base } = g.r.options.metric!;
    const metric = (v: number) => base! + v * (clean! - base!);
    const scale = Math.max(...l.r.values.data.map((v) => Math.abs(metric(v))));
    const agree = Math.max(...g.r.values.data.map((v, i) => Math.abs(metric(v) - metric(l.r.values.data[i])))) / scale;
    const started: number[] = [];
    const llama: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < Math.max(3, Math.ceil(runs / 2)); i++) {
      const a = (await sweep(false)).ms;
      const b = (await sweep(true)).ms;
      started.push(a);
      llama.push(b);
      ratios.push(b / a);
    }
    const { nLayers, nHeads } = model.config;
    console.log(
      `(7) steer.patch.heads, ${nLayers * nHeads} exact head patches on the llama shape: graphs started at each layer ${median(started).toFixed(0)} ms | ` +
        `llama.cpp runBatch (STEER_SWEEP=llama.cpp) ${median(llama).toFixed(0)} ms | median ratio ${median(ratios).toFixed(2)}x ` +
        `(work ratio ${((nLayers * nLayers) / ((nLayers * (nLayers + 1)) / 2)).toFixed(2)}x) | metric within ${agree.toExponential(2)} relative`,
    );
  } finally {
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
