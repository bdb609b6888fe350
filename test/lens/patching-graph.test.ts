// Exact head sweeps (z, all positions) on llama and qwen2 run on graphs started at the patched layer:
// each mode's sweep against the same sweep forced onto llama.cpp (STEER_SWEEP=llama.cpp), on the
// generated llama and qwen2 models and stories260K; gpt2 (the toy model) and F16 weights stay on
// llama.cpp; progress and interrupts behave as on llama.cpp.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { InterruptedError, load, quantize, type Model } from "../../src/engine/index";
import { metrics, patch } from "../../src/lens/index";
import type { HeadOptions } from "../../src/lens/patching";
import type { HeadScores } from "../../src/lens/scores";
import { generatedModel, generatedModels } from "../engine/generated";
import { relativeError } from "../engine/helpers";
import { bundled, ioi, skipStories, stories } from "./helpers";

async function onLlamaCpp<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.STEER_SWEEP;
  process.env.STEER_SWEEP = "llama.cpp";
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.STEER_SWEEP;
    else process.env.STEER_SWEEP = before;
  }
}

/** Two prompts of the model's tokens, each with a corrupted copy (one token swapped), and a metric on two of their tokens. */
function setup(m: Model) {
  const a = m.tokenize("Once upon a time, there was a little girl named Lily. She loved to").slice(0, 12);
  const b = m.tokenize("One day, a big dog ran to the park with the ball and the girl").slice(0, 12);
  const corrupt = (p: number[]) => p.map((t, i) => (i === 3 ? p[6] : t));
  return { clean: [a, b], corrupt: [corrupt(a), corrupt(b)], metric: metrics.logitDiff(a[4], a[2]) };
}

type Sweep = Pick<HeadOptions, "clean" | "corrupt" | "metric" | "mode">;

/**
 * The metric behind each value: normalized scores amplify a difference by 1 / (clean - corrupt) (11x on
 * stories260K's prompt), so the backends are compared on the metric itself.
 */
function metricValues(r: HeadScores): { shape: readonly number[]; data: Float32Array } {
  const { clean, corrupt, normalized } = r.options.metric!;
  return { shape: r.values.shape, data: r.values.data.map((v) => (normalized ? corrupt! + v * (clean! - corrupt!) : clean! + v)) };
}

/** Every mode's sweep by both backends; each pair's metric within 1e-5 of the largest. Returns the largest relative differences (metric, and scores as shown). */
async function compareModes(m: Model, label: string): Promise<{ metric: number; scores: number }> {
  const s = setup(m);
  const sweeps: [string, Sweep][] = [
    ["patch", { clean: s.clean[0], corrupt: s.corrupt[0], metric: s.metric }],
    ["patch over a dataset", { clean: s.clean, corrupt: s.corrupt, metric: s.metric }],
    ["zero", { clean: s.clean[0], metric: s.metric, mode: "zero" }],
    ["mean", { clean: s.clean, corrupt: s.corrupt, metric: s.metric, mode: "mean" }],
    ["resample", { clean: s.clean[0], corrupt: s.corrupt[0], metric: s.metric, mode: "resample" }],
  ];
  const worst = { metric: 0, scores: 0 };
  let identical = true;
  for (const [what, options] of sweeps) {
    const progress: [number, number][] = [];
    const viaLlama: [number, number][] = [];
    const graph = await patch.heads(m, { ...options, batchSize: 8, onProgress: (d, t) => progress.push([d, t]) });
    const llama = await onLlamaCpp(() => patch.heads(m, { ...options, batchSize: 8, onProgress: (d, t) => viaLlama.push([d, t]) }));
    const err = relativeError(metricValues(graph), metricValues(llama));
    assert.ok(err <= 1e-5, `${label} ${what}: the started-graph sweep's metric is ${err.toExponential(2)} (relative) from llama.cpp's, expected <= 1e-5\n graph ${Array.from(graph.values.data)}\n llama.cpp ${Array.from(llama.values.data)}`);
    assert.deepEqual(progress, viaLlama, `${label} ${what}: progress calls (done, total)`);
    assert.deepEqual(graph.options.metric, llama.options.metric, `${label} ${what}: the baselines come from the same llama.cpp runs`);
    worst.metric = Math.max(worst.metric, err);
    worst.scores = Math.max(worst.scores, relativeError(graph.values, llama.values));
    if (graph.values.data.some((v, i) => v !== llama.values.data[i])) identical = false;
  }
  // Bit-identical sweeps everywhere would mean both ran on llama.cpp.
  assert.ok(!identical, `${label}: every value equals llama.cpp's to the bit: the sweeps did not run on the started graph`);
  return worst;
}

describe("exact head sweeps on graphs started at the patched layer", () => {
  const models: Model[] = [];
  after(() => models.forEach((m) => m.dispose()));

  for (const gen of generatedModels.filter((g) => g.arch !== "gpt2")) {
    test(`${gen.arch}: every mode's sweep equals llama.cpp's within 1e-5, with the same progress`, async () => {
      const m = await load(gen.path(), { threads: 2 });
      models.push(m);
      assert.notEqual(m.startedPatching(), null, `${gen.arch} should offer the started graph`);
      const worst = await compareModes(m, gen.arch);
      console.log(`# ${gen.arch}: started-graph head sweeps within ${worst.metric.toExponential(2)} (metric) and ${worst.scores.toExponential(2)} (scores) of llama.cpp's, relative (5 sweeps)`);
    });
  }

  test("stories260K: every mode's sweep equals llama.cpp's within 1e-5", { skip: skipStories }, async () => {
    const m = await load(stories, { threads: 2 });
    models.push(m);
    const worst = await compareModes(m, "stories260K");
    console.log(`# stories260K: started-graph head sweeps within ${worst.metric.toExponential(2)} (metric) and ${worst.scores.toExponential(2)} (scores) of llama.cpp's, relative (5 sweeps)`);
  });

  test("gpt2 keeps llama.cpp (its GELU reads a float16 table): the sweep equals the forced llama.cpp one to the bit", async () => {
    const toy = await load(bundled, { threads: 2 });
    models.push(toy);
    assert.equal(toy.startedPatching(), null, "gpt2 must not offer the started graph");
    const options = { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.logitDiff(" Mary", " John") };
    const auto = await patch.heads(toy, options);
    const forced = await onLlamaCpp(() => patch.heads(toy, options));
    assert.deepEqual(Array.from(auto.values.data), Array.from(forced.values.data));
  });

  test("weights: a Q8_0 copy runs on the started graph as llama.cpp does; an F16 copy stays on llama.cpp", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "steer-sweep-"));
    try {
      const source = generatedModels.find((g) => g.arch === "llama")!.path();
      for (const type of ["Q8_0", "F16"] as const) {
        const file = path.join(dir, `llama-${type}.gguf`);
        await quantize(source, file, type);
        const m = await load(file, { threads: 2 });
        try {
          const s = setup(m);
          const options = { clean: s.clean[0], corrupt: s.corrupt[0], metric: s.metric };
          const auto = await patch.heads(m, options);
          const forced = await onLlamaCpp(() => patch.heads(m, options));
          if (type === "Q8_0") {
            assert.notEqual(m.startedPatching(), null, "Q8_0 weights should offer the started graph");
            const err = relativeError(metricValues(auto), metricValues(forced));
            assert.ok(err <= 1e-5, `Q8_0: the started-graph sweep's metric is ${err.toExponential(2)} (relative) from llama.cpp's, expected <= 1e-5`);
          } else {
            assert.equal(m.startedPatching(), null, "F16 weights (llama.cpp's F16 kernels differ from the graph's by ~5e-4) must stay on llama.cpp");
            assert.deepEqual(Array.from(auto.values.data), Array.from(forced.values.data));
          }
        } finally {
          m.dispose();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a control vector or STEER_SWEEP=llama.cpp leaves the sweep to llama.cpp", async () => {
    const m = await load(generatedModels.find((g) => g.arch === "llama")!.path(), { threads: 2 });
    models.push(m);
    assert.equal(await onLlamaCpp(async () => m.startedPatching()), null, "STEER_SWEEP=llama.cpp");
    m.setControlVector(new Float32Array(m.config.dModel).fill(0.1));
    assert.equal(m.startedPatching(), null, "with a control vector (the graph does not add it)");
    m.setControlVector(null);
    assert.notEqual(m.startedPatching(), null, "without it again");
  });

  test("an interrupted started-graph sweep stops between batches and keeps what it finished", async () => {
    const m = await load(generatedModels.find((g) => g.arch === "qwen2")!.path(), { threads: 2 });
    models.push(m);
    const s = setup(m);
    const { nLayers, nHeads } = m.config;
    const total = nLayers * nHeads;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    m.setAbortFlag(flag);
    try {
      const err = await patch
        .heads(m, {
          clean: s.clean[0],
          corrupt: s.corrupt[0],
          metric: s.metric,
          batchSize: 2,
          onProgress: (done) => {
            if (done === 4) Atomics.store(flag, 0, 1);
          },
        })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof InterruptedError, `expected InterruptedError, got ${err}`);
      const partial = (err as InterruptedError & { partial: { done: number; total: number; result: { values: { data: Float32Array } } } }).partial;
      assert.equal(partial.done, 4);
      assert.equal(partial.total, total);
      const v = partial.result.values.data;
      assert.ok(Number.isFinite(v[3]) && Number.isNaN(v[4]), `finished cells kept, the rest NaN: ${Array.from(v)}`);
      assert.match((err as Error).message, new RegExp(`4 of ${total} interventions had finished`));
    } finally {
      Atomics.store(flag, 0, 0);
      m.setAbortFlag(null);
    }
  });

  test("an interrupt inside a batch of several graphs stops it at the next graph; finished batches are kept", async () => {
    // 4 layers x 4 heads, batches of 8: each batch is two graphs (two layers' heads)
    const m = await load(generatedModel("sweep-llama-4l", { arch: "llama", layers: 4, heads: 4, kvHeads: 2, dModel: 64, dMlp: 96, seed: 7 }), { threads: 2 });
    models.push(m);
    const s = setup(m);
    const [good, bad] = [s.clean[0][4], s.clean[0][2]];
    const flag = new Int32Array(new SharedArrayBuffer(4));
    m.setAbortFlag(flag);
    // The metric is read twice for the baselines, then once per variant: the 14th read is the last
    // variant of batch 2's first graph.
    let reads = 0;
    const metric = (logits: Float32Array) => {
      if (++reads === 14) Atomics.store(flag, 0, 1);
      return logits[good] - logits[bad];
    };
    try {
      const err = await patch.heads(m, { clean: s.clean[0], corrupt: s.corrupt[0], metric, batchSize: 8 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof InterruptedError, `expected InterruptedError, got ${err}`);
      assert.equal(reads, 14, "no graph ran after the flag was set");
      const partial = (err as InterruptedError & { partial: { done: number; total: number; result: { values: { data: Float32Array } } } }).partial;
      assert.deepEqual([partial.done, partial.total], [8, 16]);
      const v = Array.from(partial.result.values.data);
      assert.ok(v.slice(0, 8).every(Number.isFinite) && v.slice(8).every(Number.isNaN), `batch 1 kept, batch 2 (interrupted) NaN: ${v}`);
    } finally {
      Atomics.store(flag, 0, 0);
      m.setAbortFlag(null);
    }
  });
});
