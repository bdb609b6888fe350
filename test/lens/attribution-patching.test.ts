// steer.attribute.heads / residual / attnOut / mlpOut (attribution patching, by gradient, relevance and
// EAP-IG) against exact activation patching (steer.patch.*): the planted heads on the toy model, and the
// rank correlation over every head and every (layer, position) of stories260K.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { load, type Model } from "../../src/engine/index";
import { attribute, metrics, patch } from "../../src/lens/index";
import { bundled, ioi, skipStories, stories, truthHeads } from "./helpers";

let toy: Model;
before(async () => {
  toy = await load(bundled, { threads: 1 });
});
after(() => toy?.dispose());

/** Spearman's rank correlation (average ranks for ties). */
function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ranks = (x: ArrayLike<number>) => {
    const order = Array.from(x, (v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Float64Array(x.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i] - mean) * (rb[i] - mean);
    da += (ra[i] - mean) ** 2;
    db += (rb[i] - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

test("heads by position: the cells add up to the all-positions estimate, the name mover acts at the last position, and a click patches that one cell exactly", async () => {
  const options = { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.logitDiff(" Mary", " John") };
  const all = await attribute.heads(toy, options);
  const each = await attribute.heads(toy, { ...options, positions: "each" });
  const [L, H, T] = each.values.shape;
  assert.deepEqual(each.values.dims, ["layer", "head", "pos"]);
  assert.equal(T, toy.tokenize(ioi.clean).length);
  // normalized: (corrupt + sum) scaled, so the per-position deviations from the corrupt baseline add up
  const base = all.options.metric!;
  const shift = (v: number) => v * (base.clean! - base.corrupt!);
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++) {
      let sum = 0;
      for (let p = 0; p < T; p++) sum += shift(each.get(l, h, p));
      assert.ok(Math.abs(sum - shift(all.get(l, h))) < 1e-3 * Math.abs(base.clean! - base.corrupt!), `a${l}.h${h}: positions add to ${sum}, all positions ${shift(all.get(l, h))}`);
    }
  const top = each.top(1)[0];
  assert.deepEqual([top.name, top.pos], [truthHeads.nameMover, T - 1], `top head-position: ${JSON.stringify(each.top(3))}`);
  const exact = await patch.heads(toy, { ...options, positions: "each" });
  const clicked = await each.rerun({ heads: [{ layer: 3, head: 2 }], pos: T - 1 });
  assert.ok(Math.abs(clicked.normalizedAfter! - exact.get(3, 2, T - 1)) < 1e-4, `clicked a3.h2 at the last position: ${clicked.normalizedAfter}, exact sweep ${exact.get(3, 2, T - 1)}`);
  await assert.rejects(attribute.heads(toy, { ...options, positions: "some" as never }), /positions must be "all" or "each", got "some"/);
});

test("attribution patching puts the planted S-inhibition and name-mover heads on top, as exact patching does", async () => {
  const options = { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.logitDiff(" Mary", " John") };
  const est = await attribute.heads(toy, options);
  const exact = await patch.heads(toy, options);
  assert.deepEqual(est.values.shape, [4, 4]);
  assert.deepEqual(est.values.dims, ["layer", "head"]);
  const top = est.top(2).map((t) => t.name).sort();
  assert.deepEqual(top, [truthHeads.inhibition, truthHeads.nameMover].sort(), `attribution's top heads: ${JSON.stringify(est.top(4))}; exact patching's: ${JSON.stringify(exact.top(4))}`);
  // The name mover's estimate is close to its exact score. The S-inhibition head acts through the name
  // mover's saturated attention, where a first-order estimate is known to be poor (its sign even
  // flips here): it ranks second by size only because every other head is near 0.
  assert.ok(Math.abs(est.get(3, 2) - exact.get(3, 2)) < 0.1, `name mover: attribution ${est.get(3, 2)}, exact ${exact.get(3, 2)}`);
  console.log(`# toy IOI: attribution ${est.top(3).map((t) => `${t.name} ${t.value.toFixed(3)}`).join(", ")}; exact ${exact.top(3).map((t) => `${t.name} ${t.value.toFixed(3)}`).join(", ")}`);
  // Both scales: 0 = corrupt, 1 = clean. The clean baseline is llama.cpp's run, the corrupted one the
  // gradient graph's (F16 weights: within 1e-2 of llama.cpp's).
  const [a, b] = [est.options.metric!, exact.options.metric!];
  assert.ok(Math.abs(a.clean! - b.clean!) < 1e-6 && Math.abs(a.corrupt! - b.corrupt!) < 1e-2, `baselines: attribution ${JSON.stringify(a)}, patching ${JSON.stringify(b)}`);
  // A click on a head patches it exactly.
  const again = await est.rerun({ heads: [{ layer: 3, head: 2 }] });
  assert.ok(Math.abs(again.normalizedAfter! - exact.get(3, 2)) < 1e-4, `clicked: ${again.normalizedAfter}, exact sweep: ${exact.get(3, 2)}`);
});

test("EAP-IG sees the S-inhibition head that the local gradient misses; relevance sees only what flows through values", async () => {
  const options = { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.logitDiff(" Mary", " John") };
  const exact = await patch.heads(toy, options);
  const gradient = await attribute.heads(toy, options);
  const ig = await attribute.heads(toy, { ...options, method: "eap-ig" });
  const relevance = await attribute.heads(toy, { ...options, method: "relevance" });
  const show = (r: { top(k: number): { name: string; value: number }[] }) => r.top(3).map((t) => `${t.name} ${t.value.toFixed(3)}`).join(", ");
  console.log(`# toy IOI, S-inhibition ${truthHeads.inhibition}: exact ${exact.get(2, 1).toFixed(3)}, gradient ${gradient.get(2, 1).toFixed(3)}, EAP-IG (5 steps) ${ig.get(2, 1).toFixed(3)}, relevance ${relevance.get(2, 1).toFixed(3)}; name mover: exact ${exact.get(3, 2).toFixed(3)}, gradient ${gradient.get(3, 2).toFixed(3)}, EAP-IG ${ig.get(3, 2).toFixed(3)}, relevance ${relevance.get(3, 2).toFixed(3)}`);
  console.log(`# top: EAP-IG ${show(ig)}; relevance ${show(relevance)}`);
  assert.ok(Math.abs(gradient.get(2, 1)) < 0.1, `the local gradient misses the S-inhibition head (it acts through the name mover's saturated attention): got ${gradient.get(2, 1)}, exact ${exact.get(2, 1)}`);
  assert.deepEqual(ig.top(2).map((t) => t.name).sort(), [truthHeads.inhibition, truthHeads.nameMover].sort(), `EAP-IG's top heads: ${show(ig)}; exact: ${show(exact)}`);
  assert.ok(ig.get(2, 1) > 0.5 && ig.get(2, 1) < 2, `EAP-IG's S-inhibition estimate: expected within 0.5..2 of the exact ${exact.get(2, 1)}, got ${ig.get(2, 1)}`);
  assert.ok(Math.abs(ig.get(3, 2) - exact.get(3, 2)) < 0.1, `EAP-IG's name mover: ${ig.get(3, 2)}, exact ${exact.get(3, 2)}`);
  // The relevance rules hold the attention pattern constant: a head that acts through another head's
  // query (the S-inhibition head) gets nothing; the name mover, which writes the answer, is on top.
  assert.equal(relevance.top(1)[0].name, truthHeads.nameMover, `relevance's top heads: ${show(relevance)}`);
  assert.ok(Math.abs(relevance.get(2, 1)) < 1e-3, `relevance of the S-inhibition head: expected 0 (attention held constant), got ${relevance.get(2, 1)}`);
  assert.match(ig.options.title, /EAP-IG estimate \(5 steps\)/);
  await assert.rejects(attribute.heads(toy, { ...options, method: "ig" as never }), /method must be one of "gradient", "relevance", "eap-ig", got "ig"/);
  await assert.rejects(attribute.heads(toy, { ...options, method: "eap-ig", steps: 0 }), /steps must be a whole number >= 1/);
});

test("residual, attention and MLP outputs: [layer, pos] estimates on patching's scale, a click patches the cell exactly", async () => {
  const options = { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.logitDiff(" Mary", " John") };
  const P = toy.tokenize(ioi.clean).length;
  for (const [what, estimate, exact] of [
    ["resid_post", () => attribute.residual(toy, { ...options, at: "resid_post" }), () => patch.residual(toy, { ...options, at: "resid_post" })],
    ["attn_out", () => attribute.attnOut(toy, options), () => patch.attnOut(toy, options)],
    ["mlp_out", () => attribute.mlpOut(toy, options), () => patch.mlpOut(toy, options)],
  ] as const) {
    const est = await estimate();
    const ex = await exact();
    assert.deepEqual(est.values.shape, [4, P], `${what}: shape`);
    assert.equal(est.options.component, what);
    assert.deepEqual(est.options.tokens, ex.options.tokens, `${what}: tokens`);
    const top = est.top(1)[0];
    const exTop = ex.top(1)[0];
    console.log(`# toy IOI ${what}: estimate top ${JSON.stringify(top)}; exact top ${JSON.stringify(exTop)}`);
    // The cell the estimate ranks first matters as much by exact patching (several cells tie at 1 there).
    const there = ex.get(top.layer, top.pos);
    assert.ok(Math.abs(top.value - there) < 0.1 && Math.abs(there - exTop.value) < 0.1, `${what}: estimate ${top.value} at its top cell, exact ${there} there and ${exTop.value} at its own top`);
    const click = await est.rerun({ cell: { layer: top.layer, pos: top.pos } });
    assert.ok(Math.abs(click.normalizedAfter! - there) < 1e-4, `${what}: the click patched ${click.normalizedAfter}, the exact sweep ${there}`);
  }
  // Everything the model computes reaches the logits through the last residual stream: at the last
  // position, patching it restores the clean run (exactly 1), and the estimate is the linear share.
  const last = await attribute.residual(toy, { ...options, at: "resid_post" });
  assert.ok(Math.abs(last.get(3, P - 1) - 1) < 0.1, `last resid_post at the last position: ${last.get(3, P - 1)}`);
  await assert.rejects(attribute.residual(toy, { ...options, at: "resid_out" as never }), /at must be "resid_pre", "resid_mid" or "resid_post", got "resid_out"/);
  await assert.rejects(
    attribute.residual(toy, { clean: [ioi.clean, "When Mary went, John gave to"], corrupt: [ioi.corrupt, "When John went, Mary gave to"], metric: metrics.logitDiff(" Mary", " John") }),
    /needs prompts of one token length: prompt 0 has 15 tokens, prompt 1 has/,
  );
});

test("over a dataset (a token per prompt) the estimate averages like patching and finds the same heads", async () => {
  const options = {
    clean: [ioi.clean, ioi.cleanSwapped],
    corrupt: [ioi.corrupt, ioi.corruptSwapped],
    metric: metrics.logitDiff([" Mary", " John"], [" John", " Mary"]),
  };
  const est = await attribute.heads(toy, options);
  const exact = await patch.heads(toy, options);
  assert.deepEqual(est.top(2).map((t) => t.name).sort(), exact.top(2).map((t) => t.name).sort(), `attribution ${JSON.stringify(est.top(3))}, exact ${JSON.stringify(exact.top(3))}`);
  await assert.rejects(attribute.heads(toy, { ...options, metric: metrics.logProb([" Mary"]) }), /token lists 1 tokens for 2 prompts/);
});

test("a metric without a gradient, or prompts of different lengths, are refused with the fix named", async () => {
  await assert.rejects(
    attribute.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: (logits: Float32Array) => logits[0] }),
    /needs a metric it can differentiate: steer\.metrics\.logitDiff\(\.\.\.\) or steer\.metrics\.logProb\(\.\.\.\), not a custom function/,
  );
  await assert.rejects(attribute.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.klToClean() }), /klToClean is not one/);
  await assert.rejects(attribute.heads(toy, { clean: ioi.clean, metric: metrics.logProb(" Mary") } as never), /pass clean, corrupt/);
  for (const method of ["gradient", "relevance", "eap-ig"] as const) {
    await assert.rejects(attribute.mlpOut(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: (logits: Float32Array) => logits[0], method }), /not a custom function/);
    await assert.rejects(attribute.residual(toy, { clean: ioi.clean, corrupt: "When Mary and John went", metric: metrics.logitDiff(" Mary", " John"), method }), /must tokenize to the same length/);
  }
});

/** stories260K's story with every later "Lily" made "Ben": the metric is logit(Lily) - logit(Ben) at the end. */
function lilyToBen(m: Model) {
  const clean = m.tokenize("Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily");
  const lily = clean[14];
  const ben = m.tokenize(" Ben", { bos: false })[0];
  const corrupt = clean.map((t, i) => (i > 0 && t === lily ? ben : t));
  return { clean, corrupt, metric: metrics.logitDiff(lily, ben) };
}

test("on stories260K attribution ranks every head like exact patching (Spearman > 0.9; EAP-IG and relevance lower), in a fraction of the time", { skip: skipStories }, async () => {
  const m = await load(stories, { threads: 2 });
  try {
    const options = lilyToBen(m);
    await attribute.heads(m, options); // loads the gradient graph's weights once, outside the timing
    let t0 = performance.now();
    const est = await attribute.heads(m, options);
    const tAttr = performance.now() - t0;
    t0 = performance.now();
    const exact = await patch.heads(m, options);
    const tExact = performance.now() - t0;
    const rho = spearman(est.values.data, exact.values.data);
    console.log(`# stories260K, ${est.values.size} heads: Spearman ${rho.toFixed(3)}; attribution ${tAttr.toFixed(0)} ms, exact sweep ${tExact.toFixed(0)} ms; top attribution ${JSON.stringify(est.top(3))}, top exact ${JSON.stringify(exact.top(3))}`);
    assert.ok(rho > 0.9, `expected a rank correlation with exact patching above 0.9 (measured 0.981), got ${rho}`);
    // The other methods, measured: EAP-IG 0.884, relevance 0.468 (it holds attention patterns constant).
    for (const [method, floor] of [["eap-ig", 0.78], ["relevance", 0.35]] as const) {
      const other = spearman((await attribute.heads(m, { ...options, method })).values.data, exact.values.data);
      console.log(`# stories260K heads, ${method}: Spearman ${other.toFixed(3)}`);
      assert.ok(other >= floor, `${method}: Spearman with exact patching ${other.toFixed(3)}, expected >= ${floor}`);
    }
  } finally {
    m.dispose();
  }
});

/** Measured on stories260K (the prompt below, 30 tokens, 5 layers x 30 positions): Spearman of each method's
 * estimate with exact patching over every cell, less about 0.1. Most cells are near 0 in both, so the
 * ranks there are close to noise; the few large cells (the corrupted positions) agree better (Pearson). */
const POSITION_FLOORS: Record<string, Record<string, number>> = {
  resid_pre: { gradient: 0.55, "eap-ig": 0.4, relevance: 0.15 },
  attn_out: { gradient: 0.55, "eap-ig": 0.3, relevance: 0.1 },
  mlp_out: { gradient: 0.55, "eap-ig": 0.4, relevance: 0.1 },
};

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

test("on stories260K the residual, attention and MLP estimates of each method rank cells like exact patching", { skip: skipStories }, async () => {
  const m = await load(stories, { threads: 2 });
  try {
    const options = lilyToBen(m);
    const kinds = [
      ["resid_pre", patch.residual, attribute.residual],
      ["attn_out", patch.attnOut, attribute.attnOut],
      ["mlp_out", patch.mlpOut, attribute.mlpOut],
    ] as const;
    for (const [what, exactly, estimate] of kinds) {
      const exact = await exactly(m, options);
      for (const method of ["gradient", "relevance", "eap-ig"] as const) {
        const est = await estimate(m, { ...options, method });
        const rho = spearman(est.values.data, exact.values.data);
        const r = pearson(est.values.data, exact.values.data);
        console.log(`# stories260K ${what}, ${method}: Spearman ${rho.toFixed(3)}, Pearson ${r.toFixed(3)} over ${est.values.size} cells`);
        assert.ok(rho >= POSITION_FLOORS[what][method], `${what}, ${method}: Spearman with exact patching ${rho.toFixed(3)}, expected >= ${POSITION_FLOORS[what][method]}`);
      }
    }
  } finally {
    m.dispose();
  }
});
