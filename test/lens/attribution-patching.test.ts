// steer.attribute.heads (attribution patching) against exact activation patching (steer.patch.heads):
// the planted heads on the toy model, and the rank correlation over every head of stories260K.
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

test("a metric without a gradient is refused with the fix named", async () => {
  await assert.rejects(
    attribute.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: (logits: Float32Array) => logits[0] }),
    /needs a metric it can differentiate: steer\.metrics\.logitDiff\(\.\.\.\) or steer\.metrics\.logProb\(\.\.\.\), not a custom function/,
  );
  await assert.rejects(attribute.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metrics.klToClean() }), /klToClean is not one/);
  await assert.rejects(attribute.heads(toy, { clean: ioi.clean, metric: metrics.logProb(" Mary") } as never), /pass clean, corrupt/);
});

test("on stories260K attribution ranks every head like exact patching (Spearman > 0), in a fraction of the time", { skip: skipStories }, async () => {
  const m = await load(stories, { threads: 2 });
  try {
    const clean = m.tokenize("Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily");
    const lily = clean[14];
    const ben = m.tokenize(" Ben", { bos: false })[0];
    const corrupt = clean.map((t, i) => (i > 0 && t === lily ? ben : t));
    const options = { clean, corrupt, metric: metrics.logitDiff(lily, ben) };
    await attribute.heads(m, options); // loads the gradient graph's weights once, outside the timing
    let t0 = performance.now();
    const est = await attribute.heads(m, options);
    const tAttr = performance.now() - t0;
    t0 = performance.now();
    const exact = await patch.heads(m, options);
    const tExact = performance.now() - t0;
    const rho = spearman(est.values.data, exact.values.data);
    console.log(`# stories260K, ${est.values.size} heads: Spearman ${rho.toFixed(3)}; attribution ${tAttr.toFixed(0)} ms, exact sweep ${tExact.toFixed(0)} ms; top attribution ${JSON.stringify(est.top(3))}, top exact ${JSON.stringify(exact.top(3))}`);
    assert.ok(rho > 0, `expected a positive rank correlation with exact patching, got ${rho}`);
  } finally {
    m.dispose();
  }
});
