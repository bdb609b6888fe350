// model.gradients: a differentiable graph of our own over the GGUF weights. Its forward values must
// equal llama.cpp's (runWithCache), and its gradients must equal llama.cpp's own forward pass
// differentiated numerically (central differences through runWithHooks edits) at every layer.
// gpt2 is the exception for the differences: llama.cpp's CPU GELU rounds its input to float16 (a
// table), so its forward pass is a staircase at that scale; gpt2's gradients are checked against
// central differences of the plain-TypeScript reference forward pass (exact GELU) instead.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { EngineError, InterruptedError, UnknownHookError, load, quantize, type GradientMetric, type HookContext, type Model, type Tensor } from "../../src/engine/index";
import { generatedModel, generatedModels } from "./generated";
import { assertClose, lastRow, relativeError, prompt, repoRoot, skipStories, stories } from "./helpers";
import path from "node:path";
import { forward, loadReferenceModel } from "../reference/index";

const toy = path.join(repoRoot, "samples", "models", "toy-circuits.gguf");

interface Case {
  what: string;
  path: () => string;
  skip: string | false;
  /** forward tolerance (relative to the largest value) */
  tol: number;
  /** hooks checked by central differences in every layer */
  probes: string[];
  /** central-difference step */
  eps: number;
  /** whose forward pass is differentiated numerically */
  numeric: "llama.cpp" | "reference";
}

// llama.cpp's CPU GELU reads a float16 table, ours is the exact tanh form (it has to be
// differentiable): gpt2 forward values differ by about 5e-4 of their range for that reason alone.
const gpt2Tol = 2e-3;
const cases: Case[] = [
  { what: "stories260K (llama, grouped-query attention)", path: () => stories, skip: skipStories, tol: 1e-4, eps: 1e-2, numeric: "llama.cpp", probes: ["attn.hook_z", "hook_resid_pre", "hook_attn_out", "mlp.hook_post"] },
  ...generatedModels.map((g) => ({
    what: `a generated ${g.arch} model`,
    path: g.path,
    skip: g.skip,
    tol: g.arch === "gpt2" ? gpt2Tol : 1e-4,
    eps: 1e-2,
    numeric: g.arch === "gpt2" ? ("reference" as const) : ("llama.cpp" as const),
    probes: ["attn.hook_z", "hook_resid_pre", "hook_resid_mid", "mlp.hook_post"],
  })),
  { what: "toy-circuits (gpt2, F16 weights)", path: () => toy, skip: false, tol: 3e-3, eps: 1e-2, numeric: "reference", probes: ["attn.hook_z", "hook_resid_pre", "hook_resid_mid"] },
];

/** The metric from a [pos, vocab] logits tensor, as the native graph computes it. */
function metricOf(logits: { shape: readonly number[]; data: Float32Array }, m: GradientMetric): number {
  const row = lastRow(logits);
  if (m.kind === "logitDiff") return row[m.correct] - row[m.wrong];
  if (m.kind === "logProb") {
    const max = Math.max(...row);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    return row[m.token] - max - Math.log(sum);
  }
  let s = 0;
  for (let i = 0; i < row.length; i++) s += row[i] * m.weights[i];
  return s;
}

/** Flat indices of the `n` largest |g| values, one per position where possible. */
function strongest(g: Tensor, n: number): number[] {
  const order = [...g.data.keys()].sort((a, b) => Math.abs(g.data[b]) - Math.abs(g.data[a]));
  const perPos = g.size / g.shape[0];
  const picked: number[] = [];
  const positions = new Set<number>();
  for (const i of order) {
    if (picked.length === n) break;
    if (positions.has(Math.floor(i / perPos))) continue;
    positions.add(Math.floor(i / perPos));
    picked.push(i);
  }
  return picked;
}

for (const c of cases) {
  describe(`gradients on ${c.what}`, { skip: c.skip }, () => {
    let model: Model;
    let tokens: number[];
    const open = async () => {
      if (!model) {
        model = await load(c.path(), { threads: 2 });
        tokens = model.tokenize(prompt).slice(0, 24);
      }
      return model;
    };
    after(() => model?.dispose());

    test("forward values at every served hook and the logits equal runWithCache's", async () => {
      const m = await open();
      const names = m.hookNames().map((h) => h.name).filter((n) => n !== "logits" && !n.endsWith("hook_attn_scores"));
      const ref = await m.runWithCache(tokens, { names });
      const got = await m.gradients(tokens, { metric: { kind: "logitDiff", correct: 1, wrong: 2 }, names });
      assertClose(got.logits, ref.logits, "logits", c.tol);
      assert.equal(got.activations.size, names.length, `expected ${names.length} activations, got ${got.activations.size}`);
      for (const n of names) {
        const a = got.activations.get(n)!;
        assert.deepEqual(a.dims, ref.cache.get(n).dims, `${n}: dims`);
        assertClose(a, ref.cache.get(n), n, c.tol);
        assert.deepEqual(got.gradients.get(n)!.shape, a.shape, `${n}: gradient shape`);
      }
      assert.ok(Math.abs(got.value - metricOf(ref.logits, { kind: "logitDiff", correct: 1, wrong: 2 })) <= c.tol * 10 * Math.max(1, ...lastRow(ref.logits).map(Math.abs)), "metric value");
    });

    test(`gradients at every layer equal central differences of ${c.numeric === "llama.cpp" ? "llama.cpp's own" : "the reference"} forward pass`, async () => {
      const m = await open();
      const base = await m.runWithCache(tokens, { names: [], logits: "last" });
      const row = lastRow(base.logits);
      const ranked = [...row.keys()].sort((a, b) => row[b] - row[a]);
      const metrics: GradientMetric[] = [
        { kind: "logitDiff", correct: ranked[0], wrong: ranked[3] },
        { kind: "logProb", token: ranked[1] },
      ];
      const names = Array.from({ length: m.config.nLayers }, (_, l) => c.probes.map((p) => `blocks.${l}.${p}`)).flat();
      let worst = 0;
      for (const metric of metrics) {
        const g = await m.gradients(tokens, { metric, names });
        const probes = names.flatMap((name) => strongest(g.gradients.get(name)!, 2).map((index) => ({ name, index })));
        const eps = c.eps;
        const outputs = c.numeric === "llama.cpp" ? await engineRuns(m, tokens, probes, eps) : referenceRuns(c.path(), tokens, probes, eps);
        probes.forEach((p, i) => {
          const numeric = (metricOf(outputs[2 * i], metric) - metricOf(outputs[2 * i + 1], metric)) / (2 * eps);
          const grad = g.gradients.get(p.name)!;
          const analytic = grad.data[p.index];
          const err = Math.abs(numeric - analytic) / grad.maxAbs();
          worst = Math.max(worst, err);
          assert.ok(err < 1e-2, `${metric.kind} at ${p.name}[${p.index}]: expected (central differences of the ${c.numeric} forward pass) ${numeric}, got ${analytic} (relative error ${err.toExponential(2)})`);
        });
      }
      console.log(`# ${c.what}: worst relative gradient error ${worst.toExponential(2)} over ${names.length * 2 * metrics.length} coordinates (against ${c.numeric})`);
    });
  });
}

interface Probe {
  name: string;
  /** flat index into the hook's [pos, ...] tensor */
  index: number;
}

/** Logits of llama.cpp's forward pass with +eps, then -eps, added at each probe (one batch). */
async function engineRuns(m: Model, tokens: number[], probes: Probe[], eps: number): Promise<Tensor[]> {
  const edit = (name: string, index: number, delta: number) => ({
          input: tokens,
          names: [],
          logits: "last" as const,
          hooks: {
            // A long batch may reach a hook in pieces: find the edited position among this piece's rows.
            [name]: (t: Tensor, ctx: HookContext) => {
              const perRow = t.size / t.shape[0];
              const row = ctx.positions.indexOf(Math.floor(index / perRow));
              if (row >= 0) t.data[row * perRow + (index % perRow)] += delta;
              return t;
            },
          },
        });
  const runs = await m.runBatch(probes.flatMap((p) => [edit(p.name, p.index, eps), edit(p.name, p.index, -eps)]));
  return runs.map((r) => r.logits);
}

/** The same from the plain-TypeScript reference forward pass (test/reference). */
function referenceRuns(file: string, tokens: number[], probes: Probe[], eps: number) {
  const ref = loadReferenceModel(file);
  return probes.flatMap((p) =>
    [eps, -eps].map((delta) => {
      const hooks = { [p.name]: (t: { data: Float32Array }) => void (t.data[p.index] += delta) };
      return forward(ref, tokens, { hooks, cache: false }).logits;
    }),
  );
}

describe("gradients with Q8_0 weights", () => {
  const models: Model[] = [];
  after(() => models.forEach((m) => m.dispose()));

  test("the forward values equal llama.cpp's, and the gradients the F32 original's within quantization error", async () => {
    const f32 = generatedModel("grad-q8-source", { arch: "llama", layers: 2, heads: 4, kvHeads: 2, dModel: 64, dMlp: 128, seed: 5 });
    const q8 = f32.replace(/\.gguf$/, "-q8_0.gguf");
    quantize(f32, q8, "Q8_0");
    const [a, b] = [await load(f32, { threads: 2 }), await load(q8, { threads: 2 })];
    models.push(a, b);
    assert.equal(b.provenance.quantization, "Q8_0", `expected a Q8_0 file, got ${b.provenance.quantization}`);
    const tokens = [1, 17, 33, 5, 80, 12, 9, 41];
    const names = ["blocks.0.attn.hook_z", "blocks.0.hook_resid_pre", "blocks.1.hook_resid_mid", "blocks.1.mlp.hook_post"];
    const metric: GradientMetric = { kind: "logitDiff", correct: 3, wrong: 7 };
    const ref = await b.runWithCache(tokens, { names });
    const got = await b.gradients(tokens, { metric, names });
    const exact = await a.gradients(tokens, { metric, names });
    let worst = 0;
    for (const n of names) {
      assertClose(got.activations.get(n)!, ref.cache.get(n), `Q8_0 ${n}`, 1e-4);
      assertClose(got.gradients.get(n)!, exact.gradients.get(n)!, `Q8_0 gradient at ${n} against F32`, 5e-2);
      worst = Math.max(worst, relativeError(got.gradients.get(n)!, exact.gradients.get(n)!));
    }
    console.log(`# Q8_0 gradients within ${worst.toExponential(2)} of the F32 model's`);
  });
});

describe("gradients: errors and interrupts", () => {
  let model: Model;
  after(() => model?.dispose());
  const open = async () => (model ??= await load(generatedModels.find((g) => g.arch === "llama")!.path(), { threads: 2 }));

  test("a weight vector on the logits, at any position, gives the gradient of that weighted sum", async () => {
    const m = await open();
    const tokens = [1, 9, 4, 22, 7, 3];
    const names = ["blocks.0.attn.hook_z", "blocks.1.hook_resid_mid"];
    const weights = new Float32Array(m.config.nVocab);
    weights[5] = 1;
    weights[8] = -1;
    const viaWeights = await m.gradients(tokens, { metric: { kind: "logits", weights, pos: 2 }, names });
    const viaDiff = await m.gradients(tokens, { metric: { kind: "logitDiff", correct: 5, wrong: 8, pos: -4 }, names });
    const logits = (await m.runWithCache(tokens, { names: [] })).logits;
    const expected = logits.get(2, 5) - logits.get(2, 8);
    assert.ok(Math.abs(viaWeights.value - expected) < 1e-5, `value: expected ${expected} (llama.cpp's logits at position 2), got ${viaWeights.value}`);
    for (const n of names) {
      assertClose(viaWeights.gradients.get(n)!, viaDiff.gradients.get(n)!, `${n}: weights e5 - e8 against logitDiff(5, 8)`, 1e-6);
      // Nothing after position 2 can change its logits.
      const g = viaWeights.gradients.get(n)!;
      const late = g.data.subarray((3 * g.size) / g.shape[0]);
      assert.equal(Math.max(...late.map(Math.abs)), 0, `${n}: gradient after the metric's position should be 0`);
    }
  });

  test("an unknown hook name is an UnknownHookError with a suggestion", async () => {
    const m = await open();
    await assert.rejects(() => m.gradients([1, 2, 3], { metric: { kind: "logProb", token: 1 }, names: ["blocks.0.attn.hook_zz"] }), (e: unknown) => {
      assert.ok(e instanceof UnknownHookError, `expected UnknownHookError, got ${String(e)}`);
      assert.match((e as Error).message, /blocks\.0\.attn\.hook_z"/);
      return true;
    });
  });

  test("a hook the gradient graph does not serve, a bad token and a bad position are clear errors", async () => {
    const m = await open();
    await assert.rejects(() => m.gradients([1, 2, 3], { metric: { kind: "logProb", token: 1 }, names: ["blocks.0.attn.hook_attn_scores"] }), /cannot return blocks\.0\.attn\.hook_attn_scores yet/);
    await assert.rejects(() => m.gradients([1, 2, 3], { metric: { kind: "logProb", token: 1e6 }, names: [] }), /Token id 1000000 is out of range/);
    await assert.rejects(() => m.gradients([1, 2, 3], { metric: { kind: "logitDiff", correct: 1, wrong: 2, pos: 3 }, names: [] }), /metric\.pos 3 is outside this input of 3 tokens/);
  });

  test("a set abort flag stops the graph with InterruptedError, and the next call works", async () => {
    const m = await open();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    m.setAbortFlag(flag);
    Atomics.store(flag, 0, 1);
    await assert.rejects(() => m.gradients([1, 2, 3], { metric: { kind: "logProb", token: 1 }, names: ["blocks.0.attn.hook_z"] }), InterruptedError);
    Atomics.store(flag, 0, 0);
    const r = await m.gradients([1, 2, 3], { metric: { kind: "logProb", token: 1 }, names: ["blocks.0.attn.hook_z"] });
    assert.ok(Number.isFinite(r.value) && r.value < 0, `expected a finite log-probability below 0, got ${r.value}`);
    m.setAbortFlag(null);
  });

  test("an architecture without a gradient graph is named in the error", async () => {
    const { GradientGraph } = await import("../../src/engine/gradients");
    const m = await open();
    assert.throws(() => new GradientGraph(generatedModel("random-llama-for-arch", { arch: "llama", layers: 1, heads: 2, dModel: 16, dMlp: 32, seed: 9 }), {}, "mamba" as never, m.config), (e: unknown) => {
      assert.ok(e instanceof EngineError && e.code === "unsupported-architecture", `expected unsupported-architecture, got ${String(e)}`);
      assert.match((e as Error).message, /not implemented for architecture "mamba"\. Supported: llama, qwen2, gpt2/);
      return true;
    });
  });
});
