// Massive activations: the scan finds the planted massive dimension of the bundled model and nothing
// else, its sink heads, and the loss it holds up; on stories260K every number agrees with a direct
// computation from runWithCache.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BadArgumentError, load, type Model } from "../../src/engine/index";
import { decodeTensor, VIEW_MIMES, VIEW_VALUE_CAP } from "../../src/protocol";
import { massive } from "../../src/lens/index";
import { chunks, keepChannels, layerStats } from "../../src/lens/massive-stats";
import { bundled, skipStories, stories, truth } from "./helpers";

// Words of the truth file's vocabulary (each one token) and names; the first has a repeated name.
const toyTexts = [
  "When Mary and John went to the store John gave a drink to",
  "The cat sat on the mat",
  "Once upon a time there was a little girl",
  "She saw a big red ball in the park",
];
// No names and no repeats: every sink head has nothing to attend to but the first token.
const plainTexts = toyTexts.slice(1);

/** |x| over every text's [pos, d_model] rows of one hook, straight from runWithCache. */
async function direct(model: Model, texts: string[], name: string): Promise<{ max: number; sorted: Float32Array; rows: Float32Array[] }> {
  const rows: Float32Array[] = [];
  for (const t of texts) rows.push((await model.runWithCache(t, { names: [name], logits: "last" })).cache.get(name).data);
  const all = Float32Array.from(rows.flatMap((r) => Array.from(r, Math.abs))).sort();
  return { max: all[all.length - 1], sorted: all, rows };
}

describe("on the bundled toy-circuits model", () => {
  let toy: Model;
  before(async () => {
    toy = await load(bundled, { threads: 1 });
  });
  after(() => toy?.dispose());

  test("the scan flags the planted massive dim on the first token of every text, at every layer from where it appears, and nothing else", async () => {
    for (const t of toyTexts) assert.equal(toy.toStr(toy.tokenize(t)).length, t.split(" ").length + 1, `every word of ${JSON.stringify(t)} should be one token`);
    const { dim, fromLayer, value } = truth.massive;
    const s = await massive.scan(toy, toyTexts);
    // resid_post of layer L is resid_pre of layer L + 1: the value appears in the output of layer fromLayer - 1.
    const layers = Array.from({ length: truth.nLayers - fromLayer + 1 }, (_, i) => fromLayer - 1 + i);
    const expected = layers.flatMap((layer) => toyTexts.map((_, text) => `L${layer} t${text} p0 d${dim}`));
    assert.deepEqual(s.flagged.map((e) => `L${e.layer} t${e.text} p${e.pos} d${e.dim}`), expected);
    for (const e of s.flagged) {
      assert.ok(Math.abs(e.value - value) < 1, `flagged value ${e.value}, expected ${value}`);
      assert.ok(e.ratio > 1000, `ratio ${e.ratio}, expected > 1000`);
      assert.equal(e.token, "<s>");
    }
    assert.deepEqual(s.dims, [dim]);
    assert.equal(s.top(1)[0].layer, fromLayer - 1);
    assert.equal(s.top(100).length, s.flagged.length);
    assert.match(s.summary(), new RegExp(`^massive: ${expected.length} entries, dim ${dim} on token 0 \\("<s>"\\) from layer ${fromLayer - 1}, \\d+x median$`));
    console.log(`toy: ${s.summary()}; top-1 ${s.top1.map((x) => x.toFixed(1)).join(", ")}; median ${s.median.map((x) => x.toFixed(3)).join(", ")}`);

    const pre = await massive.scan(toy, toyTexts, { hook: "resid_pre" });
    assert.deepEqual([...new Set(pre.flagged.map((e) => e.layer))], layers.slice(0, -1).map((l) => l + 1), "at resid_pre the value appears at layer fromLayer");
    assert.ok(pre.flagged.every((e) => e.dim === dim && e.pos === 0));
    assert.match(pre.summary(), new RegExp(`from layer ${fromLayer}, `));
  });

  test("top-1, top-2, top-3 and median per layer equal a direct computation from runWithCache", async () => {
    const s = await massive.scan(toy, toyTexts);
    for (let l = 0; l < truth.nLayers; l++) {
      const d = await direct(toy, toyTexts, `blocks.${l}.hook_resid_post`);
      const n = d.sorted.length;
      assert.equal(s.top1[l], d.max, `layer ${l} top-1`);
      assert.equal(s.top2[l], d.sorted[n - 2], `layer ${l} top-2`);
      assert.equal(s.top3[l], d.sorted[n - 3], `layer ${l} top-3`);
      assert.equal(s.median[l], d.sorted[(n - 1) >> 1], `layer ${l} median`);
    }
  });

  test("the planted sink heads give the flagged token the most attention", async () => {
    const s = await massive.scan(toy, plainTexts);
    const H = truth.nHeads;
    const share = Array.from(s.sink!, (v, i) => ({ head: `a${Math.floor(i / H)}.h${i % H}`, v }));
    const ranked = [...share].sort((a, b) => b.v - a.v);
    console.log(`toy sink: ${ranked.map((x) => `${x.head} ${x.v.toFixed(3)}`).join(", ")}`);
    assert.deepEqual(ranked.slice(0, truth.sink.heads.length).map((x) => x.head).sort(), [...truth.sink.heads].sort());
    for (const x of ranked.slice(0, truth.sink.heads.length)) assert.ok(x.v > 0.9, `${x.head} gives the sink ${x.v}, expected > 0.9 (docs: >= 98.9% where nothing else matches)`);
    assert.ok(ranked[truth.sink.heads.length].v < 0.5, `the strongest other head gives ${ranked[truth.sink.heads.length].v}`);
    const pattern = (await toy.runWithCache(plainTexts[0], { names: ["blocks.1.attn.hook_pattern"], logits: "last" })).cache.get("blocks.1.attn.hook_pattern");
    const n = pattern.shape[1];
    // Text 0 alone: the mean over queries 1..n-1 of the pattern on key 0 of a1.h0.
    const one = await massive.scan(toy, plainTexts[0]);
    let expected = 0;
    for (let q = 1; q < n; q++) expected += pattern.get(0, q, 0);
    expected /= n - 1;
    assert.ok(Math.abs(one.sinkOf(1, 0)! - expected) < 1e-5, `a1.h0 sink ${one.sinkOf(1, 0)}, direct ${expected}`);
  });

  test("zeroing the massive value raises the loss of every text; setting it to its mean changes nothing; resid_pre entries act at the same place", async () => {
    const zero = await massive.ablate(toy, plainTexts);
    assert.equal(zero.values.length, plainTexts.length, "one value per text, at the layer where it first appears");
    for (const v of zero.values) assert.deepEqual([v.layer, v.pos, v.dim, v.to], [truth.massive.fromLayer - 1, 0, truth.massive.dim, 0]);
    for (const t of zero.perText) assert.ok(t.lossAfter > t.lossBefore + 1, `text ${t.text}: loss ${t.lossBefore} -> ${t.lossAfter}, expected a rise of more than 1 nat`);
    assert.ok(Math.abs(zero.perplexityAfter - Math.exp(zero.lossAfter)) < 1e-6 * zero.perplexityAfter);
    console.log(`toy: ${zero.summary()}; per text ${zero.perText.map((t) => `${t.lossBefore.toFixed(2)} -> ${t.lossAfter.toFixed(2)}`).join(", ")}`);

    const mean = await massive.ablate(toy, plainTexts, { mode: "mean" });
    assert.ok(Math.abs(mean.lossAfter - mean.lossBefore) < 1e-4, `mean: ${mean.summary()}`);
    assert.equal(mean.lossBefore, zero.lossBefore);

    const pre = await massive.scan(toy, plainTexts, { hook: "resid_pre" });
    const viaPre = await massive.ablate(toy, plainTexts, { entries: pre });
    assert.equal(viaPre.values[0].layer, truth.massive.fromLayer);
    assert.ok(Math.abs(viaPre.lossAfter - zero.lossAfter) < 1e-5, `resid_pre ${viaPre.lossAfter} vs resid_post ${zero.lossAfter}`);

    // Cross-entropy by hand for one text: -log softmax(logits[i])[token i+1], averaged.
    const tokens = toy.tokenize(plainTexts[0]);
    const { logits } = await toy.runWithCache(tokens, { names: [] });
    const V = toy.config.nVocab;
    let ce = 0;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const row = logits.data.subarray(i * V, (i + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      ce += lse - row[tokens[i + 1]];
    }
    ce /= tokens.length - 1;
    assert.ok(Math.abs(zero.perText[0].lossBefore - ce) < 1e-4, `loss ${zero.perText[0].lossBefore}, by hand ${ce}`);
  });

  test("the payload carries the layer statistics, the entries, the sink and [layer, pos, channel] magnitudes that decode", async () => {
    const s = await massive.scan(toy, toyTexts, { text: 2 });
    const p = s.payload();
    const n = toy.tokenize(toyTexts[2]).length;
    assert.equal(p.hook, "hook_resid_post");
    assert.equal(p.magnitudes.text, 2);
    assert.deepEqual(p.magnitudes.tokens, toy.toStr(toy.tokenize(toyTexts[2])));
    assert.equal(p.magnitudes.channels.length, truth.dModel, "the toy model fits under the cap: every channel");
    assert.equal(p.reduced, undefined);
    assert.deepEqual(p.magnitudes.values.shape, [truth.nLayers, n, truth.dModel]);
    const m = decodeTensor(p.magnitudes.values);
    assert.equal(m.length, truth.nLayers * n * truth.dModel);
    const at = (l: number, pos: number, c: number) => m[(l * n + pos) * truth.dModel + c];
    assert.ok(Math.abs(at(truth.massive.fromLayer, 0, truth.massive.dim) - truth.massive.value) < 1, `magnitude ${at(truth.massive.fromLayer, 0, truth.massive.dim)}`);
    assert.ok(at(truth.massive.fromLayer, 1, truth.massive.dim) < 1);
    assert.ok(m.every((x) => x >= 0), "magnitudes are absolute values");
    assert.deepEqual(p.sink!.shape, [truth.nLayers, truth.nHeads]);
    assert.deepEqual(Array.from(decodeTensor(p.sink!)), Array.from(s.sink!));
    assert.equal(p.flagged.length, s.flagged.length);
    assert.deepEqual(p.top1, s.top1);
    const out = s.toSteerOutput();
    assert.deepEqual(out.items.map((i) => i.mime), [VIEW_MIMES.massive, "text/markdown"]);
    assert.equal(out.metadata.summary, s.summary());
    const md = s.markdown();
    assert.match(md, /\| layer \| top-1 \| top-2 \| top-3 \| median \|/);
    assert.equal(md.split("\n").filter((l) => l.includes(`| ${truth.massive.dim} | 400 |`)).length, s.flagged.length, md);
    // The default text is the one holding the largest value: the first (all four tie; the first wins).
    assert.equal((await massive.scan(toy, toyTexts)).payload().magnitudes.text, 0);
  });

  test("bad options and entries of other texts fail with messages that say what to pass", async () => {
    await assert.rejects(massive.scan(toy, toyTexts, { ratio: -1 }), (e: Error) => e instanceof BadArgumentError && /ratio must be a positive number/.test(e.message));
    await assert.rejects(massive.scan(toy, toyTexts, { layer: 4 }), /layer 4 is out of range: the model has 4 layers \(valid: 0\.\.3\)/);
    await assert.rejects(massive.scan(toy, toyTexts, { text: 9 }), /text 9 is out of range: 4 texts were given \(valid: 0\.\.3\)/);
    await assert.rejects(massive.scan(toy, toyTexts, { hook: "resid_mid" as never }), /hook must be "resid_post" or "resid_pre"/);
    await assert.rejects(massive.scan(toy, []), /texts must be a string, token ids, or a non-empty list/);
    const s = await massive.scan(toy, toyTexts);
    const moved = s.flagged.map((e) => ({ ...e, pos: 1 }));
    await assert.rejects(massive.ablate(toy, toyTexts, { entries: moved }), /entries\[0\] was found on token "<s>", but text 0 has " When" at position 1: pass the flagged entries of a scan of these same texts/);
    await assert.rejects(massive.ablate(toy, plainTexts.slice(0, 1), { entries: s.flagged }), /entries\[1\] names text 1, but 1 text was given/);
    await assert.rejects(massive.ablate(toy, [[truth.bos]]), /texts is 1 token long: the loss needs at least two tokens/);
    await assert.rejects(massive.ablate(toy, plainTexts, { mode: "half" as never }), /mode must be "zero" or "mean"/);
  });
});

describe("on stories260K (a trained llama model)", { skip: skipStories }, () => {
  let model: Model;
  const texts = [
    "Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily",
    "The dog ran to the park. He saw a big tree and a bird.",
    "Tom and Sue went to the store to buy milk.",
  ];
  before(async () => {
    model = await load(stories, { threads: 1 });
  });
  after(() => model?.dispose());

  test("the scan's per-layer top-1 and median equal a direct computation, and what it flags is consistent with its threshold", async () => {
    for (const ratio of [100, 8]) {
      const s = await massive.scan(model, texts, { ratio });
      console.log(`stories260K, ratio ${ratio}: ${s.summary()}`);
      for (let l = 0; l < model.config.nLayers; l++) {
        const name = `blocks.${l}.hook_resid_post`;
        const d = await direct(model, texts, name);
        assert.ok(Math.abs(s.top1[l] - d.max) <= 1e-5 * d.max, `layer ${l} top-1 ${s.top1[l]}, direct ${d.max}`);
        const median = d.sorted[(d.sorted.length - 1) >> 1];
        assert.ok(Math.abs(s.median[l] - median) <= 1e-5 * median, `layer ${l} median ${s.median[l]}, direct ${median}`);
        // Every value at or above the threshold is flagged with its value and ratio; nothing below is.
        const threshold = Math.max(ratio * s.median[l], s.minAbs);
        const expected = d.rows.flatMap((row, text) => Array.from(row).flatMap((v, i) => (Math.abs(v) >= threshold ? [`t${text} p${Math.floor(i / model.config.dModel)} d${i % model.config.dModel}`] : [])));
        const got = s.flagged.filter((e) => e.layer === l);
        assert.deepEqual(got.map((e) => `t${e.text} p${e.pos} d${e.dim}`), expected, `layer ${l} flags`);
        for (const e of got) {
          assert.ok(Math.abs(e.value - d.rows[e.text][e.pos * model.config.dModel + e.dim]) <= 1e-5 * Math.abs(e.value));
          assert.ok(Math.abs(e.ratio - Math.abs(e.value) / s.median[l]) < 1e-9);
        }
      }
      // The view shows the text holding the largest value of the layer with the largest top-1.
      const layer = s.top1.indexOf(Math.max(...s.top1));
      const rows = (await direct(model, texts, `blocks.${layer}.hook_resid_post`)).rows;
      const holder = rows.findIndex((r) => r.some((v) => Math.abs(v) === s.top1[layer]));
      assert.equal(s.payload().magnitudes.text, holder);
      assert.deepEqual(s.payload().magnitudes.values.shape, [model.config.nLayers, model.tokenize(texts[holder]).length, model.config.dModel]);
      if (s.flagged.length) {
        assert.ok(s.sink, "a sink when something is flagged");
        const a = await massive.ablate(model, texts, { entries: s });
        console.log(`stories260K, ratio ${ratio}: ${a.summary()}`);
        assert.ok(Number.isFinite(a.lossBefore) && Number.isFinite(a.lossAfter));
      } else assert.equal(s.sink, undefined);
    }
  });
});

describe("the scan's arithmetic", () => {
  test("layerStats gives the three largest magnitudes and the lower median, as a full sort does", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (const n of [1, 2, 3, 4, 5, 100, 1001, 4096]) {
      const v = Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0.5 : rand()));
      const sorted = Float32Array.from(v, Math.abs).sort();
      const s = layerStats(v);
      assert.deepEqual([s.top1, s.top2, s.top3, s.median], [sorted[n - 1], sorted[n - 2] ?? 0, sorted[n - 3] ?? 0, sorted[(n - 1) >> 1]], `n = ${n}`);
    }
    assert.deepEqual(layerStats(new Float32Array(1000).fill(-2)), { top1: 2, top2: 2, top3: 2, median: 2 }, "all equal");
    assert.equal(layerStats(Float32Array.from({ length: 999 }, (_, i) => i)).median, 499, "sorted input");
  });

  test("keepChannels keeps the flagged dims and the largest channels under the cap, in channel order", () => {
    const score = Float32Array.from([5, 1, 9, 0.5, 7, 3]);
    assert.deepEqual(keepChannels(score, [3], 10, 60), [0, 1, 2, 3, 4, 5], "fits: every channel");
    assert.deepEqual(keepChannels(score, [3], 10, 30), [2, 3, 4], "room for 3: the flagged dim 3, then 9 and 7");
    assert.deepEqual(keepChannels(score, [3, 1, 0], 10, 20), [0, 1], "more flagged dims than room: the largest of them");
    assert.deepEqual(keepChannels(score, [], 100, 10), [2], "at least one channel");
    assert.ok(VIEW_VALUE_CAP >= 1000);
  });

  test("chunks splits costs into consecutive groups under the budget", () => {
    assert.deepEqual(chunks([3, 3, 3, 9, 1], 6), [[0, 1], [2], [3], [4]]);
  });
});
