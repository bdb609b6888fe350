// model.gradients() against the plain-TypeScript reference backward pass (test/reference/backward.ts),
// at every hook of every layer, on a generated model of each architecture and on stories260K: the
// exact gradient, from a start layer, under the relevance rule, and at the split hooks.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Tensor, load, type GradientMetric, type GradientOptions, type GradientResult, type Model } from "../../src/engine/index";
import { backward, loadReferenceModel, type BackwardOptions, type RefModel } from "../reference/index";
import { generatedModels } from "./generated";
import { lastRow, prompt, relativeError, skipStories, stories } from "./helpers";

const TOL = 1e-3;
const cases = [
  ...generatedModels.map((g) => ({ what: `generated ${g.arch}`, path: g.path, skip: g.skip })),
  { what: "stories260K", path: () => stories, skip: skipStories },
];
const SPLIT = ["hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in"];

function describeMetric(m: GradientMetric): string {
  if (m.kind === "logitDiff") return `logitDiff(${m.correct}, ${m.wrong})`;
  if (m.kind === "logProb") return `logProb(${m.token})`;
  return `weighted logits at pos ${m.pos ?? -1}`;
}

for (const c of cases) {
  describe(`gradients equal the reference backward pass on ${c.what}`, { skip: c.skip }, () => {
    let model: Model;
    let ref: RefModel;
    let tokens: number[];
    let metrics: GradientMetric[];
    /** worst relative error per comparison, printed at the end */
    const worst = new Map<string, { err: number; where: string }>();
    const open = async () => {
      if (!model) {
        model = await load(c.path(), { threads: 2 });
        ref = loadReferenceModel(c.path());
        tokens = model.tokenize(prompt).slice(0, 12);
        const row = lastRow((await model.runWithCache(tokens, { names: [], logits: "last" })).logits);
        const ranked = [...row.keys()].sort((a, b) => row[b] - row[a]);
        metrics = [
          { kind: "logitDiff", correct: ranked[0], wrong: ranked[3] },
          { kind: "logProb", token: ranked[1] },
          { kind: "logits", weights: Float32Array.from(row, (_, i) => Math.sin(1 + 0.7 * i)), pos: -3 },
        ];
      }
      return model;
    };
    after(() => {
      model?.dispose();
      for (const [what, w] of worst) console.log(`# ${c.what}, ${what}: worst relative error ${w.err.toExponential(2)} (${w.where})`);
    });

    const layerHooks = (from = 0) => {
      const names = model.hookNames().map((h) => h.name).filter((n) => n !== "logits" && !n.endsWith("hook_attn_scores"));
      return names.filter((n) => {
        const m = /^blocks\.(\d+)\./.exec(n);
        return m ? Number(m[1]) >= from : from === 0 || n === "ln_final.hook_normalized";
      });
    };
    const splitHooks = () => Array.from({ length: model.config.nLayers }, (_, l) => SPLIT.map((s) => `blocks.${l}.${s}`)).flat();

    /** Runs both for every metric and compares each requested hook's gradient; fails naming every hook off. */
    async function compare(what: string, names: string[], engine: Partial<GradientOptions>, reference: BackwardOptions) {
      const failures: string[] = [];
      for (const metric of metrics) {
        const got: GradientResult = await model.gradients(tokens, { ...engine, metric, names });
        const want = backward(ref, tokens, metric, reference);
        const valueErr = Math.abs(got.value - want.value) / Math.max(1, Math.abs(want.value));
        if (valueErr >= TOL) failures.push(`${describeMetric(metric)}: value expected (reference) ${want.value}, got ${got.value}`);
        for (const name of names) {
          const g = got.gradients.get(name);
          const w = want.grads.get(name);
          assert.ok(g && w, `${c.what}, ${what}: ${name} is missing from the ${g ? "reference" : "engine"}'s gradients`);
          assert.deepEqual(g.shape, w.shape, `${c.what}, ${what}: ${name} shape`);
          const err = relativeError(g, w);
          const prev = worst.get(what);
          if (!prev || err > prev.err) worst.set(what, { err, where: `${name}, ${describeMetric(metric)}` });
          if (err >= TOL) {
            const scale = w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
            failures.push(`${describeMetric(metric)}, ${name}: relative error ${err.toExponential(2)} (max |engine - reference| / max |reference|, reference max ${scale.toExponential(3)})`);
          }
        }
      }
      assert.equal(failures.length, 0, `${c.what}, ${what}: ${failures.length} gradients differ from the reference by ${TOL} or more:\n${failures.join("\n")}`);
    }

    test("the exact gradient at every hook of every layer, for a logit difference, a log-probability and weighted logits", async () => {
      await open();
      await compare("gradient", layerHooks(), {}, {});
    });

    test("from a start layer: resid_pre there between this prompt's and another's", async () => {
      await open();
      const L = Math.floor(model.config.nLayers / 2);
      const name = `blocks.${L}.hook_resid_pre`;
      const other = model.tokenize("The little dog ran to the park and found a big red ball").slice(0, tokens.length);
      assert.equal(other.length, tokens.length, `the second prompt needs ${tokens.length} tokens, got ${other.length}`);
      const [a, b] = await Promise.all([tokens, other].map(async (t) => (await model.runWithCache(t, { names: [name] })).cache.get(name)));
      const resid = new Tensor(a.shape, a.data.map((v, i) => 0.4 * v + 0.6 * b.data[i]), a.dims);
      await compare(`start at layer ${L}`, layerHooks(L), { start: { layer: L, resid } }, { start: { layer: L, resid } });
    });

    test('rule "relevance" at every hook of every layer', async () => {
      await open();
      await compare("relevance", layerHooks(), { rule: "relevance" }, { rule: "relevance" });
    });

    test("split hooks (hook_q_input, hook_k_input, hook_v_input, hook_mlp_in) of every layer, exact and under relevance", async () => {
      await open();
      await compare("split hooks", splitHooks(), {}, {});
      await compare("split hooks, relevance", splitHooks(), { rule: "relevance" }, { rule: "relevance" });
    });
  });
}
