// Attribution without gradients on real models: per-head outputs against llama.cpp's attention output,
// direct logit attribution against the logits llama.cpp computes (gpt2 LayerNorm, llama RMSNorm with
// grouped-query attention, qwen2), the planted name mover on top, the logit lens against the logits,
// and the residual stream accumulated and decomposed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { load, type Model, type Tensor } from "../../src/engine/index";
import { decodeTensor, VIEW_MIMES, VIEW_VALUE_CAP } from "../../src/protocol";
import { attribute, metrics } from "../../src/lens/index";
import { generatedModels } from "../engine/generated";
import { assertClose } from "../engine/helpers";
import { bundled, ioi, skipStories, stories, truth, truthHeads } from "./helpers";

const storiesPrompt = "Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily";

interface Case {
  name: string;
  skip: string | false;
  open: () => Promise<Model>;
  text: string | number[];
  /** a token and a pair of tokens to attribute */
  token: string | number;
  pair: [string | number, string | number];
}

const cases: Case[] = [
  { name: "toy-circuits (gpt2, LayerNorm, F16 weights)", skip: false, open: () => load(bundled, { threads: 1 }), text: ioi.clean, token: " Mary", pair: [" Mary", " John"] },
  { name: "stories260K (llama, RMSNorm, grouped-query attention)", skip: skipStories, open: () => load(stories, { threads: 1 }), text: storiesPrompt, token: " Lily", pair: [" she", " he"] },
  ...generatedModels
    .filter((g) => g.arch === "qwen2")
    .map((g) => ({ name: `generated ${g.arch}`, skip: g.skip, open: () => load(g.path(), { threads: 1 }), text: [1, 17, 40, 9, 33, 21, 5, 60], token: 7, pair: [7, 11] as [number, number] })),
];

/**
 * |got - want| within 1e-3 of max(1, |want|). The toy model's weights are F16, and llama.cpp rounds the
 * activations to F16 before multiplying them (z before W_O: rounding z so reproduces its hook_attn_out to
 * 7e-8, checked once by hand), while the attribution multiplies in F32:
 * its sums differ from the model's logits by about 3e-4 of their size (measured: IOI logit difference
 * 32.2463 vs 32.2548). The F32 models (stories260K, generated qwen2) agree to about 1e-7.
 */
function assertNear(got: number, want: number, what: string) {
  const tol = 1e-3 * Math.max(1, Math.abs(want));
  assert.ok(Math.abs(got - want) <= tol, `${what}: expected ${want}, got ${got} (difference ${(got - want).toExponential(2)}, tolerance ${tol.toExponential(2)})`);
}

for (const c of cases) {
  describe(`attribution on ${c.name}`, { skip: c.skip }, () => {
    let model: Model;
    before(async () => {
      model = await c.open();
    });
    after(() => model?.dispose());

    test("the heads' results plus b_O equal hook_attn_out at every layer and position; the stack has one labelled row per head", async () => {
      const { nLayers, nHeads: H, dModel: D } = model.config;
      const names = Array.from({ length: nLayers }, (_, l) => [`blocks.${l}.attn.hook_z`, `blocks.${l}.hook_attn_out`]).flat();
      const { cache } = await model.runWithCache(c.text, { names });
      const P = cache.get("blocks.0.hook_attn_out").shape[0];
      for (let l = 0; l < nLayers; l++) {
        const r = attribute.headResults(model, cache, l);
        assert.deepEqual(r.dims, ["pos", "head", "d_model"]);
        assert.deepEqual(r.shape, [P, H, D]);
        const bO = model.weightNames().includes(`blocks.${l}.attn.b_O`) ? model.weight(`blocks.${l}.attn.b_O`).data : new Float32Array(D);
        const sum = new Float32Array(P * D);
        for (let p = 0; p < P; p++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) sum[p * D + d] += r.data[(p * H + h) * D + d];
        for (let p = 0; p < P; p++) for (let d = 0; d < D; d++) sum[p * D + d] += bO[d];
        assertClose({ shape: [P, D], data: sum }, cache.get(`blocks.${l}.hook_attn_out`), `sum over heads of hook_result + b_O vs hook_attn_out, layer ${l}`);
      }
      const stack = attribute.stackHeadResults(model, cache, { pos: -1 });
      assert.equal(stack.labels.length, nLayers * H);
      assert.deepEqual(stack.results.shape, [nLayers * H, D]);
      const last = attribute.headResults(model, cache, nLayers - 1, { pos: -1 });
      const i = stack.labels.indexOf(`a${nLayers - 1}.h${H - 1}`);
      assert.deepEqual(Array.from(stack.results.data.subarray(i * D, (i + 1) * D)), Array.from(last.data.subarray((H - 1) * D, H * D)));
      assert.deepEqual(attribute.stackHeadResults(model, cache, { layer: 1 }).results.shape, [H, P, D]);
      assert.throws(() => attribute.headResults(model, cache, nLayers), /layer .* out of range/);
    });

    test("direct logit attribution sums to the logit and to the logit difference the model computes, at the last and an earlier position", async () => {
      const n = typeof c.text === "string" ? model.tokenize(c.text).length : c.text.length;
      for (const [direction, pos] of [[c.token, undefined], [c.pair, undefined], [c.pair, 3]] as const) {
        const r = await attribute.directLogitAttribution(model, c.text, { direction, pos });
        console.log(`${c.name}: ${r.info.direction} at pos ${r.info.pos}: sum of ${r.labels.length} components ${r.total.toFixed(5)}, model ${r.info.model.toFixed(5)}`);
        assertNear(r.total, r.info.model, `sum of components of ${r.info.direction} at pos ${r.info.pos}`);
        assert.equal(r.info.pos, pos ?? n - 1);
        const { nLayers, nHeads } = model.config;
        assert.deepEqual(r.heads.values.shape, [nLayers, nHeads]);
        assert.equal(r.mlps.length, nLayers);
        assert.equal(Math.fround(r.get("a0.h1")), r.heads.get(0, 1));
        assert.equal(r.get(`m${nLayers - 1}`), r.mlps[nLayers - 1]);
      }
    });

    test("the logit lens at the last layer equals the model's logits at every position; its top tokens are the logits' top tokens", async () => {
      const lens = await attribute.logitLens(model, c.text, { k: 3, target: c.token });
      const { logits } = await model.runWithCache(c.text, { names: [] });
      const [P, V] = logits.shape;
      assert.equal(lens.layers.length, model.config.nLayers + 1);
      assert.equal(lens.layers[0], "embed");
      const last = lens.layers.length - 1;
      for (let p = 0; p < P; p++) {
        const want = logits.data.subarray(p * V, (p + 1) * V);
        assertClose({ shape: [V], data: lens.logits(last, p) }, { shape: [V], data: want }, `logit lens row ${lens.layers[last]} at pos ${p}`);
        // Near-ties (the first token's logits are all about equal here) may break either way.
        const max = want.reduce((a, b) => Math.max(a, b), -Infinity);
        const top = lens.top[last][p][0].id;
        assert.ok(want[top] >= max - 1e-3 * Math.max(1, Math.abs(max)), `top token at pos ${p}: the lens's ${top} has model logit ${want[top]}, the largest is ${max}`);
      }
      assert.equal(lens.top[0][0].length, 3);
      const view = lens.payload();
      assert.equal(view.top.length, lens.layers.length);
      assert.deepEqual(view.target!.probs.shape, [lens.layers.length, P]);
      assert.ok(Math.abs(decodeTensor(view.target!.probs)[last * P + P - 1] - lens.targetProb(last, P - 1)) < 1e-7);
      assert.equal(lens.toSteerOutput().items[0].mime, VIEW_MIMES.logitLens);
    });

    test("accumulated residual: the last entry read as the direction is the model's value; decomposed residual: the parts sum to the residual and, with the bias terms, to the value", async () => {
      const { nLayers: L } = model.config;
      const acc = await attribute.accumulatedResid(model, c.text, { direction: c.pair });
      assert.deepEqual(acc.labels, [...Array.from({ length: L }, (_, l) => `resid_pre ${l}`), `resid_post ${L - 1}`]);
      assertNear(acc.values[acc.values.length - 1], acc.info.model!, "accumulated resid_post read through the frozen final norm");
      const { cache } = await model.runWithCache(c.text, { names: [`blocks.${L - 1}.hook_resid_post`, "blocks.1.hook_resid_pre"] });
      const lastRow = (t: Tensor) => t.data.subarray(t.data.length - t.shape[1]);
      assert.deepEqual(Array.from(acc.vector("resid_pre 1").data), Array.from(lastRow(cache.get("blocks.1.hook_resid_pre"))));

      const dec = await attribute.decomposeResid(model, c.text, { direction: c.pair });
      const parts = dec.tensor();
      const D = model.config.dModel;
      const sum = new Float32Array(D);
      for (let i = 0; i < parts.shape[0]; i++) for (let d = 0; d < D; d++) sum[d] += parts.data[i * D + d];
      assertClose({ shape: [D], data: sum }, { shape: [D], data: lastRow(cache.get(`blocks.${L - 1}.hook_resid_post`)) }, "sum of decomposed parts vs resid_post");
      const total = Array.from(dec.values).reduce((a, b) => a + b, 0) + dec.info.constant!;
      assertNear(total, dec.info.model!, "decomposed projections + bias terms");
      const dla = await attribute.directLogitAttribution(model, c.text, { direction: c.pair });
      assertNear(dec.get("m0"), dla.get("m0"), "decomposed m0 vs DLA m0");
      const norms = await attribute.decomposeResid(model, c.text, { layer: 1 });
      assert.equal(norms.options.valueLabel, "L2 norm");
      assert.deepEqual(norms.labels.slice(-2), ["a0", "m0"]);
    });
  });
}

describe("attribution on the planted model", () => {
  let toy: Model;
  before(async () => {
    toy = await load(bundled, { threads: 1 });
  });
  after(() => toy?.dispose());

  test("direct logit attribution of the IOI logit difference puts the planted name mover on top", async () => {
    const r = await attribute.directLogitAttribution(toy, ioi.clean, { direction: metrics.logitDiff(" Mary", " John") });
    const [first, second] = r.heads.top(2, "max");
    console.log(`IOI DLA: ${first.name} ${first.value.toFixed(2)}, then ${second.name} ${second.value.toFixed(2)}; model ${r.info.model.toFixed(2)}`);
    assert.equal(first.name, truthHeads.nameMover, `top head: expected ${truthHeads.nameMover}, got ${first.name} (${JSON.stringify(r.heads.top(4, "max"))})`);
    assert.ok(first.value > 1.5 * second.value, `the name mover should dominate: ${first.value} vs ${second.value}`);
    assert.equal(r.top(1)[0].label, truthHeads.nameMover);
    const out = r.toSteerOutput();
    assert.equal(out.items[0].mime, VIEW_MIMES.components);
    assert.match(String(out.items[1].data), /Sum of the components/);
    assert.match(r.summary(), new RegExp(`top ${truthHeads.nameMover.replace(".", "\\.")}`));
    assert.equal(r.heads.payload().valueLabel, `direct effect on logit(" Mary") - logit(" John")`);
  });

  test("the logit lens sees the answer appear only after the name mover's layer", async () => {
    const lens = await attribute.logitLens(toy, ioi.clean, { target: " Mary" });
    const P = lens.tokens.length;
    const nm = Number(/^a(\d+)/.exec(truthHeads.nameMover)![1]);
    const before = lens.targetProb(nm, P - 1);
    const afterNm = lens.targetProb(nm + 1, P - 1);
    console.log(`p(" Mary") at the last position: ${lens.layers.map((l, i) => `${l} ${lens.targetProb(i, P - 1).toFixed(3)}`).join(", ")}`);
    assert.ok(afterNm > 0.5 && before < 0.1, `p(" Mary") before the name mover ${before}, after ${afterNm}`);
    assert.ok(lens.payload().top.flat(2).length * 3 <= VIEW_VALUE_CAP);
  });

  test("a logit lens over the whole vocabulary keeps the last positions that fit the view's size limit", async () => {
    const V = toy.config.nVocab;
    const tokens = [truth.bos, ...Array.from({ length: 127 }, (_, i) => truth.induction.tokenIds[i % truth.induction.tokenIds.length])];
    const lens = await attribute.logitLens(toy, tokens, { k: V });
    const view = lens.payload();
    const kept = Math.floor(VIEW_VALUE_CAP / (lens.layers.length * V * 3));
    assert.equal(view.tokens.length, kept);
    assert.equal(view.reduced, `only the last ${kept} of 128 positions (the view's size limit)`);
    assert.ok(view.top.flat(2).length * 3 <= VIEW_VALUE_CAP, `${view.top.flat(2).length * 3} values`);
    assert.deepEqual(view.top[2][kept - 1], lens.top[2][127]);
    const probs = lens.top[4][127].map((t) => t.prob);
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, "the whole vocabulary's probabilities sum to 1");
    assert.ok(probs.every((p, i) => i === 0 || p <= probs[i - 1]), "most probable first");
  });

  test("bad arguments name the problem", async () => {
    await assert.rejects(attribute.directLogitAttribution(toy, ioi.clean, {} as never), /direction is required/);
    await assert.rejects(attribute.directLogitAttribution(toy, ioi.clean, { direction: metrics.logProb(" Mary") }), /logitDiff metric of single tokens/);
    await assert.rejects(attribute.directLogitAttribution(toy, ioi.clean, { direction: " Mary", pos: 99 }), /pos 99 is out of range: the input has 15 tokens/);
    await assert.rejects(attribute.directLogitAttribution(toy, [ioi.clean, ioi.corrupt] as never, { direction: " Mary" }), /takes one prompt/);
    await assert.rejects(attribute.logitLens(toy, ioi.clean, { k: 0 }), /k must be an integer/);
    await assert.rejects(attribute.accumulatedResid(toy, ioi.clean, { layer: 9 }), /layer 9 is out of range/);
    const { cache } = await toy.runWithCache(ioi.clean, { names: ["blocks.0.attn.hook_z"] });
    assert.throws(() => attribute.headResults(toy, cache, 2), /The cache has no blocks\.2\.attn\.hook_z/);
  });
});
