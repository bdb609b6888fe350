// The reference backward pass checked against its own forward pass: central differences of the
// double-precision forward (forward.ts with f64) at every hook of every layer, at the split hooks
// (each reader's input rebuilt by a second forward run), from a start layer; the relevance rule
// against the conservation it is built for; and its errors.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generatedModels } from "../engine/generated";
import { skipStories, stories } from "../engine/helpers";
import { backward, forward, loadReferenceModel, type Hook, type Hooks, type RefMetric, type RefModel, type Tensor } from "./index";

const cases = [
  ...generatedModels.map((g) => ({ what: `generated ${g.arch}`, path: g.path, skip: g.skip })),
  { what: "stories260K", path: () => stories, skip: skipStories },
];
const tokens = [1, 17, 33, 5, 80, 12, 9, 41, 7, 3];
const EPS = 1e-4;
const TOL = 1e-4;

/** The metric from a [pos, vocab] logits tensor, in double precision. */
function metricOf(logits: Tensor<Float64Array>, m: RefMetric): number {
  const [n, V] = logits.shape;
  const p = m.pos ?? -1;
  const pos = p < 0 ? n + p : p;
  const row = logits.data.subarray(pos * V, pos * V + V);
  if (m.kind === "logitDiff") return row[m.correct] - row[m.wrong];
  if (m.kind === "logProb") {
    const max = Math.max(...row);
    return row[m.token] - max - Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  }
  return row.reduce((s, v, i) => s + v * m.weights[i], 0);
}

function metrics(model: RefModel): RefMetric[] {
  const weights = Float64Array.from({ length: model.config.vocab }, (_, i) => Math.sin(1 + i * 0.7));
  return [
    { kind: "logitDiff", correct: 20, wrong: 31 },
    { kind: "logProb", token: 20 },
    { kind: "logits", weights, pos: -3 },
  ];
}

/** Index of the largest |g|. */
function strongest(g: Float32Array): number {
  let best = 0;
  for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
  return best;
}

const maxAbs = (g: Float32Array) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Central difference of every metric when `edit(delta)` hooks perturb the double-precision forward pass. */
function centralDifferences(model: RefModel, ms: RefMetric[], hooks: (delta: number) => Hooks<Float64Array>): number[] {
  const run = (delta: number) => forward(model, tokens, { hooks: hooks(delta), f64: true, cache: false }).logits;
  const [plus, minus] = [run(EPS), run(-EPS)];
  return ms.map((m) => (metricOf(plus, m) - metricOf(minus, m)) / (2 * EPS));
}

for (const c of cases) {
  describe(`reference backward on ${c.what}`, { skip: c.skip }, () => {
    const model = loadReferenceModel(c.path());
    const ms = metrics(model);
    const results = ms.map((m) => backward(model, tokens, m));

    test("the value is the metric of the forward pass, and every hook has a gradient of its shape", () => {
      const fwd = forward(model, tokens, { f64: true });
      results.forEach((r, i) => {
        const want = metricOf(fwd.logits, ms[i]);
        assert.ok(Math.abs(r.value - want) < 1e-9 * Math.max(1, Math.abs(want)), `${ms[i].kind}: value expected ${want}, got ${r.value}`);
        for (const [name, t] of fwd.cache) assert.deepEqual(r.grads.get(name)?.shape, t.shape, `${ms[i].kind} ${name}: gradient shape`);
      });
    });

    test("gradients at every hook of every layer equal central differences of the double-precision forward pass", () => {
      let worst = 0;
      let probes = 0;
      for (const name of forward(model, tokens, { cache: true }).cache.keys()) {
        // two probes per hook: the coordinates where the first two metrics' gradients are largest
        const at = [...new Set([strongest(results[0].grads.get(name)!.data), strongest(results[1].grads.get(name)!.data)])];
        for (const index of at) {
          const numeric = centralDifferences(model, ms, (delta) => ({ [name]: (t) => void (t.data[index] += delta) }));
          results.forEach((r, i) => {
            const g = r.grads.get(name)!.data;
            const err = Math.abs(numeric[i] - g[index]) / (maxAbs(g) || 1);
            worst = Math.max(worst, err);
            assert.ok(err < TOL, `${c.what} ${ms[i].kind} at ${name}[${index}]: expected (central differences) ${numeric[i]}, got ${g[index]} (relative error ${err.toExponential(2)})`);
          });
          probes++;
        }
      }
      console.log(`# ${c.what}: worst relative error ${worst.toExponential(2)} over ${probes * ms.length} coordinates`);
    });

    test("split hooks: each reader's gradient equals central differences of that reader's input alone, and the readers add up", () => {
      const { nLayer, nHead, nHeadKv, dModel: D } = model.config;
      let worst = 0;
      const readers = [
        { hook: "hook_q_input", resid: "hook_resid_pre", read: "attn.hook_q", heads: nHead },
        { hook: "hook_k_input", resid: "hook_resid_pre", read: "attn.hook_k", heads: nHeadKv },
        { hook: "hook_v_input", resid: "hook_resid_pre", read: "attn.hook_v", heads: nHeadKv },
        { hook: "hook_mlp_in", resid: "hook_resid_mid", read: "ln2.hook_normalized", heads: 1 },
      ];
      for (let l = 0; l < nLayer; l++) {
        const p = `blocks.${l}.`;
        for (const rd of readers) {
          const index = strongest(results[0].grads.get(p + rd.hook)!.data);
          const [pos, head, d] = [Math.floor(index / (rd.heads * D)), Math.floor(index / D) % rd.heads, index % D];
          // The reader's own view of the perturbed stream: what one run with the stream perturbed computes
          // at that head's (or the MLP's) input row, substituted into an otherwise unperturbed run.
          const numeric = centralDifferences(model, ms, (delta) => {
            const perturbed = forward(model, tokens, { f64: true, hooks: { [p + rd.resid]: (t) => void (t.data[pos * D + d] += delta) } }).cache.get(p + rd.read)!;
            const row = perturbed.data.length / tokens.length, width = row / rd.heads;
            const from = pos * row + head * width;
            return { [p + rd.read]: (t) => void t.data.set(perturbed.data.subarray(from, from + width), from) };
          });
          results.forEach((r, i) => {
            const g = r.grads.get(p + rd.hook)!.data;
            const err = Math.abs(numeric[i] - g[index]) / (maxAbs(g) || 1);
            worst = Math.max(worst, err);
            assert.ok(err < TOL, `${c.what} ${ms[i].kind} at ${p}${rd.hook}[pos ${pos}, head ${head}, ${d}]: expected (central differences) ${numeric[i]}, got ${g[index]} (relative error ${err.toExponential(2)})`);
          });
        }
        // sum of the attention readers = grad(resid_pre) - grad(resid_mid); mlp_in = grad(resid_mid) - grad(resid_post)
        const r = results[1].grads;
        const sumReaders = (name: string, heads: number) => Array.from({ length: tokens.length * D }, (_, k) => {
          let s = 0;
          for (let h = 0; h < heads; h++) s += r.get(p + name)!.data[(Math.floor(k / D) * heads + h) * D + (k % D)];
          return s;
        });
        const q = sumReaders("hook_q_input", nHead), k = sumReaders("hook_k_input", nHeadKv), v = sumReaders("hook_v_input", nHeadKv);
        const pre = r.get(p + "hook_resid_pre")!.data, mid = r.get(p + "hook_resid_mid")!.data, post = r.get(p + "hook_resid_post")!.data, mlpIn = r.get(p + "hook_mlp_in")!.data;
        const scale = maxAbs(pre);
        for (let k2 = 0; k2 < pre.length; k2++) {
          const attn = q[k2] + k[k2] + v[k2];
          assert.ok(Math.abs(attn - (pre[k2] - mid[k2])) <= 1e-5 * scale, `${p}: q+k+v readers ${attn} != resid_pre - resid_mid ${pre[k2] - mid[k2]} at ${k2}`);
          assert.ok(Math.abs(mlpIn[k2] - (mid[k2] - post[k2])) <= 1e-5 * scale, `${p}: mlp_in ${mlpIn[k2]} != resid_mid - resid_post ${mid[k2] - post[k2]} at ${k2}`);
        }
        const values = results[0].cache;
        assert.deepEqual([...values.get(p + "hook_k_input")!.data.subarray(D, 2 * D)], [...values.get(p + "hook_resid_pre")!.data.subarray(0, D)], `${p}hook_k_input: kv head 1's row is resid_pre's`);
      }
      console.log(`# ${c.what}: split hooks, worst relative error ${worst.toExponential(2)}`);
    });

    test("from a start layer: the gradients of a forward pass whose resid_pre there is replaced", () => {
      const L = model.config.nLayer - 1;
      const D = model.config.dModel;
      const name = `blocks.${L}.hook_resid_pre`;
      // somewhere between this prompt's residual stream and another's, as EAP-IG integrates
      const other = forward(model, [1, 50, 60, 70, 2, 4, 6, 8, 10, 12]).cache.get(name)!.data;
      const own = results[0].cache.get(name)!.data;
      const resid = { shape: [tokens.length, D], data: Float64Array.from(own, (v, i) => 0.3 * v + 0.7 * other[i]) };
      const r = ms.map((m) => backward(model, tokens, m, { start: { layer: L, resid } }));
      assert.ok(!r[0].grads.has(`blocks.${L - 1}.hook_resid_post`) && !r[0].grads.has("hook_embed"), "nothing below the start layer has a gradient");
      const startErr = maxAbs(r[0].cache.get(name)!.data.map((v, i) => v - resid.data[i]));
      assert.ok(startErr < 1e-6, `resid_pre's values should be the start values, they differ by up to ${startErr}`);
      for (const hook of [name, `blocks.${L}.attn.hook_z`, `blocks.${L}.hook_q_input`]) {
        const index = strongest(r[1].grads.get(hook)!.data);
        const numeric = centralDifferences(model, ms, (delta) => ({
          [name]: (t) => ({ shape: t.shape, data: Float64Array.from(resid.data, (v, i) => (hook === name && i === index ? v + delta : v)) }),
          ...(hook === name ? {} : { [hook.includes("q_input") ? `blocks.${L}.attn.hook_q` : hook]: perturbAfterStart(model, tokens, resid, hook, index, delta) }),
        }));
        r.forEach((ri, i) => {
          const g = ri.grads.get(hook)!.data;
          const err = Math.abs(numeric[i] - g[index]) / (maxAbs(g) || 1);
          assert.ok(err < TOL, `start at layer ${L}, ${ms[i].kind} at ${hook}[${index}]: expected (central differences) ${numeric[i]}, got ${g[index]} (relative error ${err.toExponential(2)})`);
        });
      }
      assert.throws(() => backward(model, tokens, ms[0], { start: { layer: L, resid: { shape: [3, D], data: new Float32Array(3 * D) } } }), new RegExp(`start\\.resid must be \\[${tokens.length}, ${D}\\]`));
      assert.throws(() => backward(model, tokens, ms[0], { start: { layer: model.config.nLayer, resid } }), /start\.layer \d+ is out of range 0\.\.\d+/);
    });

    test("relevance at every hook equals central differences of the forward pass with the rule's factors frozen", () => {
      const base = forward(model, tokens, { f64: true }).cache;
      const rel = ms.map((m) => backward(model, tokens, m, { rule: "relevance" }));
      let worst = 0;
      // The pattern is detached (0 by definition), not a frozen factor one could perturb.
      const names = [...base.keys()].filter((n) => !n.endsWith("hook_pattern") && !n.endsWith("hook_attn_scores"));
      for (const name of names) {
        const index = strongest(rel[0].grads.get(name)!.data);
        const numeric = centralDifferences(model, ms, (delta) => frozen(model, base, { [name]: (t) => void (t.data[index] += delta) }));
        rel.forEach((r, i) => {
          const g = r.grads.get(name)!.data;
          const err = Math.abs(numeric[i] - g[index]) / (maxAbs(g) || 1);
          worst = Math.max(worst, err);
          assert.ok(err < TOL, `${c.what} relevance, ${ms[i].kind} at ${name}[${index}]: expected (central differences, factors frozen) ${numeric[i]}, got ${g[index]} (relative error ${err.toExponential(2)})`);
        });
      }
      console.log(`# ${c.what}: relevance, worst relative error ${worst.toExponential(2)} over ${names.length * ms.length} coordinates`);
    });

    test("relevance: q and k get nothing, and on a model without biases, resid . relevance at every layer sums to the logit difference", () => {
      const rel = backward(model, tokens, ms[0], { rule: "relevance" });
      assert.equal(rel.value, results[0].value, "the forward value does not depend on the rule");
      for (let l = 0; l < model.config.nLayer; l++) {
        for (const h of ["attn.hook_q", "attn.hook_k", "hook_q_input", "hook_k_input", "attn.hook_rot_q", "attn.hook_attn_scores", "attn.hook_pattern"].filter((h) => model.config.rope !== "none" || !h.includes("rot"))) {
          assert.equal(maxAbs(rel.grads.get(`blocks.${l}.${h}`)!.data), 0, `relevance at blocks.${l}.${h} should be 0`);
        }
        const v = rel.grads.get(`blocks.${l}.attn.hook_v`)!.data;
        assert.ok(maxAbs(v) > 0, `relevance at blocks.${l}.attn.hook_v should flow`);
      }
      // Frozen norms, pattern and activation ratios make every layer linear (the gated product's half
      // rule splits its degree 2 evenly): relevance is conserved through the residual stream.
      const biased = model.layers.some((L) => L.bq || L.lnB || L.bUp || L.bDown || L.bo) || model.lnFB || model.outB;
      if (biased) return;
      const names = ["hook_embed", ...Array.from({ length: model.config.nLayer }, (_, l) => [`blocks.${l}.hook_resid_pre`, `blocks.${l}.hook_resid_mid`, `blocks.${l}.hook_resid_post`]).flat()];
      for (const name of names) {
        const x = rel.cache.get(name)!.data, g = rel.grads.get(name)!.data;
        const sum = x.reduce((s, xi, i) => s + xi * g[i], 0);
        assert.ok(Math.abs(sum - rel.value) < 1e-4 * Math.max(1, Math.abs(rel.value)), `relevance at ${name} sums to ${sum}, expected the logit difference ${rel.value}`);
        const exact = results[0].grads.get(name)!.data;
        if (name !== `blocks.${model.config.nLayer - 1}.hook_resid_post`) assert.notDeepEqual([...g], [...exact], `${name}: relevance should differ from the gradient`);
      }
    });

    test("bad input names the problem", () => {
      const V = model.config.vocab;
      assert.throws(() => backward(model, tokens, { kind: "logProb", token: V }), new RegExp(`metric\\.token ${V} is out of range 0\\.\\.${V - 1}`));
      assert.throws(() => backward(model, tokens, { kind: "logitDiff", correct: 1, wrong: 2, pos: tokens.length }), /metric\.pos 10 is outside this input of 10 tokens/);
      assert.throws(() => backward(model, tokens, { kind: "logits", weights: [1, 2] }), new RegExp(`metric\\.weights has 2 values; it needs one per vocabulary entry \\(${V}\\)`));
      assert.throws(() => backward(model, tokens, ms[0], { rule: "lrp" as never }), /rule must be "gradient" or "relevance"/);
    });
  });
}

/**
 * In a run started from `resid`, the hook that moves `hook` by delta at `index`: hook_z directly;
 * hook_q_input through head h's hook_q, replaced by what a run from the moved resid_pre computes there.
 */
function perturbAfterStart(model: RefModel, toks: number[], resid: { shape: number[]; data: Float64Array }, hook: string, index: number, delta: number) {
  if (!hook.endsWith("hook_q_input")) return (t: Tensor<Float64Array>) => void (t.data[index] += delta);
  const { dModel: D, nHead: H, dHead: Dh } = model.config;
  const L = Number(/blocks\.(\d+)/.exec(hook)![1]);
  const [pos, head, d] = [Math.floor(index / (H * D)), Math.floor(index / D) % H, index % D];
  const moved = Float64Array.from(resid.data, (v, i) => (i === pos * D + d ? v + delta : v));
  const q = forward(model, toks, { f64: true, hooks: { [`blocks.${L}.hook_resid_pre`]: (t) => ({ shape: t.shape, data: moved }) } }).cache.get(`blocks.${L}.attn.hook_q`)!.data;
  const from = (pos * H + head) * Dh;
  return (t: Tensor<Float64Array>) => void t.data.set(q.subarray(from, from + Dh), from);
}

/**
 * Hooks that make the forward pass the function whose exact gradient the relevance rule gives: the
 * factors the rule holds constant come from the unperturbed run `base` (norm denominators, the pattern,
 * the activation ratios, and each factor of the gated product for the other's half), the rest is
 * recomputed from this run's values. `extra` hooks (a perturbation) run after the replacement at their
 * hook and before this run's value is recorded.
 */
function frozen(model: RefModel, base: Map<string, Tensor<Float64Array>>, extra: Hooks<Float64Array>): Hooks<Float64Array> {
  const c = model.config;
  const D = c.dModel;
  const rms = c.arch !== "gpt2";
  const now = new Map<string, Float64Array>();
  const hooks: Record<string, Hook<Float64Array>[]> = {};
  const add = (name: string, h: Hook<Float64Array>) => (hooks[name] ??= []).push(h);
  const record = (name: string) => add(name, (t) => void now.set(name, t.data.slice()));
  const norm = (out: string, input: string, w: Float32Array, b?: Float32Array) => {
    record(input);
    add(out, (t) => {
      const x = now.get(input)!, x0 = base.get(input)!.data;
      const y = new Float64Array(x.length);
      for (let i = 0; i < x.length / D; i++) {
        const mean = (a: Float64Array) => (rms ? 0 : a.subarray(i * D, i * D + D).reduce((s, v) => s + v, 0) / D);
        const m0 = mean(x0), m = mean(x);
        const s0 = 1 / Math.sqrt(x0.subarray(i * D, i * D + D).reduce((s, v) => s + (v - m0) ** 2, 0) / D + c.eps);
        for (let j = 0; j < D; j++) y[i * D + j] = (x[i * D + j] - m) * s0 * w[j] + (b ? b[j] : 0);
      }
      return { shape: t.shape, data: y };
    });
  };
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const last = `blocks.${c.nLayer - 1}.hook_resid_post`;
  for (let l = 0; l < c.nLayer; l++) {
    const p = `blocks.${l}.`, L = model.layers[l];
    norm(p + "ln1.hook_normalized", p + "hook_resid_pre", L.lnW, L.lnB);
    add(p + "attn.hook_pattern", (t) => ({ shape: t.shape, data: base.get(p + "attn.hook_pattern")!.data.slice() }));
    norm(p + "ln2.hook_normalized", p + "hook_resid_mid", L.ln2W, L.ln2B);
    record(p + "mlp.hook_pre");
    if (L.wGate) record(p + "mlp.hook_pre_linear");
    add(p + "mlp.hook_post", (t) => {
      const g = now.get(p + "mlp.hook_pre")!, g0 = base.get(p + "mlp.hook_pre")!.data;
      if (!L.wGate) {
        const k = Math.sqrt(2 / Math.PI);
        return { shape: t.shape, data: g.map((x, i) => x * sigmoid(2 * k * (g0[i] + 0.044715 * g0[i] ** 3))) };
      }
      const u = now.get(p + "mlp.hook_pre_linear")!, u0 = base.get(p + "mlp.hook_pre_linear")!.data;
      return { shape: t.shape, data: g.map((x, i) => 0.5 * x * sigmoid(g0[i]) * u0[i] + 0.5 * g0[i] * sigmoid(g0[i]) * u[i]) };
    });
  }
  norm("ln_final.hook_normalized", last, model.lnFW, model.lnFB);
  // replacement, then the perturbation, then recording this run's value
  for (const [name, h] of Object.entries(extra)) {
    const list = (hooks[name] ??= []);
    const replaces = !name.endsWith("hook_resid_pre") && !name.endsWith("hook_resid_mid") && name !== last && !name.includes("mlp.hook_pre");
    list.splice(replaces ? list.length : 0, 0, h);
  }
  return Object.fromEntries(
    Object.entries(hooks).map(([name, list]) => [
      name,
      (t: Tensor<Float64Array>, n: string) => {
        let cur = t;
        for (const h of list) cur = h(cur, n) ?? cur;
        return cur;
      },
    ]),
  );
}
