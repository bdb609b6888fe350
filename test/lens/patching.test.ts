// Activation patching sweeps on the planted model (ground truth) and on stories260K against the
// independent reference forward pass.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { InterruptedError, load, type Model } from "../../src/engine/index";
import { decodeTensor, VIEW_MIMES } from "../../src/protocol";
import { metrics, patch } from "../../src/lens/index";
import { forward, loadReferenceModel, type RefModel } from "../reference/index";
import { bundled, ioi, skipStories, stories, truthHeads } from "./helpers";

let toy: Model;
before(async () => {
  toy = await load(bundled, { threads: 1 });
});
after(() => toy?.dispose());

const metric = () => metrics.logitDiff(" Mary", " John");

test("head patching (denoising) restores the IOI behaviour exactly through the planted S-inhibition and name-mover heads", async () => {
  const r = await patch.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metric() });
  assert.deepEqual(r.values.shape, [4, 4]);
  const top = r.top(2).map((t) => t.name).sort();
  assert.deepEqual(top, [truthHeads.inhibition, truthHeads.nameMover].sort(), `top heads: ${JSON.stringify(r.top(4))}`);
  for (const t of r.top(2)) assert.ok(Math.abs(t.value - 1) < 0.01, `${t.name} restores ${t.value}, expected 1`);
  for (const t of r.top(16).slice(2)) assert.ok(Math.abs(t.value) < 0.01, `${t.name} should do nothing, got ${t.value}`);
  assert.ok(r.options.metric!.clean! > 10 && r.options.metric!.corrupt! < -10, `baselines ${JSON.stringify(r.options.metric)}`);
});

test("zero-ablating each head puts the three planted IOI heads at the bottom", async () => {
  const r = await patch.heads(toy, { clean: ioi.clean, metric: metric(), mode: "zero" });
  const worst = r.top(3, "min").map((t) => t.name).sort();
  assert.deepEqual(worst, [truthHeads.duplicate, truthHeads.inhibition, truthHeads.nameMover].sort());
  assert.match(r.options.valueLabel, /change of/);
});

test("residual patching by position: S2's position carries the answer until the name mover moves it to the last position", async () => {
  const r = await patch.residual(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metric() });
  const n = toy.tokenize(ioi.clean).length;
  assert.deepEqual(r.values.shape, [4, n]);
  const s2 = n - 5;
  assert.equal(r.options.tokens[s2], " John");
  assert.ok(Math.abs(r.get(0, s2) - 1) < 0.01, `layer 0 at S2: ${r.get(0, s2)}`);
  assert.ok(Math.abs(r.get(3, n - 1) - 1) < 0.01, `layer 3 at the last position: ${r.get(3, n - 1)}`);
  assert.ok(Math.abs(r.get(0, 2)) < 0.01, `layer 0 at IO: ${r.get(0, 2)}`);
  const out = r.toSteerOutput();
  assert.equal(out.items[0].mime, VIEW_MIMES.positions);
  const view = r.payload();
  assert.deepEqual(Array.from(decodeTensor(view.values)), Array.from(r.values.data));
  assert.match(String(out.items[1].data), /resid_pre/);
  // Cells ran with the prompt's prefix shared (decoded once); each equals an unshared re-run.
  assert.match(String(out.items[1].data), /Shared prefixes saved \d+ of \d+ token evaluations/);
  for (const [layer, pos] of [[0, s2], [2, n - 1], [3, 4]]) {
    const again = await r.rerun({ cell: { layer, pos } });
    assert.ok(Math.abs(again.normalizedAfter! - r.get(layer, pos)) < 1e-4, `layer ${layer} pos ${pos}: shared ${r.get(layer, pos)}, unshared ${again.normalizedAfter}`);
  }
});

test("head patching per position puts the effect on the positions the circuit uses", async () => {
  const r = await patch.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metric(), positions: "each" });
  const n = toy.tokenize(ioi.clean).length;
  assert.deepEqual(r.values.shape, [4, 4, n]);
  const [best] = r.top(1);
  assert.equal(best.pos, n - 1, `the name mover acts at the last position: ${JSON.stringify(best)}`);
  assert.equal(r.payload().tokens?.length, n);
});

test("a dataset averages the metric; prompts of different lengths are refused with both tokenizations shown", async () => {
  const r = await patch.heads(toy, {
    clean: [ioi.clean, ioi.cleanSwapped],
    corrupt: [ioi.corrupt, ioi.corruptSwapped],
    metric: metrics.logitDiff([" Mary", " John"], [" John", " Mary"]),
  });
  assert.deepEqual(r.top(2).map((t) => t.name).sort(), [truthHeads.inhibition, truthHeads.nameMover].sort());
  await assert.rejects(
    patch.heads(toy, { clean: ioi.clean, corrupt: "When Mary went", metric: metric() }),
    (e: Error) => /same length/.test(e.message) && /" Mary"/.test(e.message) && /15 tokens/.test(e.message),
  );
});

test("click-to-patch: a result re-runs one head (patch or zero) and its spec re-runs it without the sweep", async () => {
  const r = await patch.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metric() });
  const target = { heads: [{ layer: 3, head: 2 }] };
  const p = await r.rerun(target, "patch");
  assert.ok(p.metricBefore < -10 && p.metricAfter > 10, JSON.stringify(p));
  assert.ok(Math.abs(p.normalizedAfter! - r.get(3, 2)) < 1e-6);
  assert.equal(p.topBefore[0].token, " John");
  assert.equal(p.topAfter[0].token, " Mary");
  const z = await r.rerun(target, "zero");
  assert.ok(z.metricBefore > 10 && z.metricAfter < z.metricBefore - 5, JSON.stringify(z));
  const view = r.payload();
  assert.ok(view.rerun && view.rerun.modes.includes("zero") && view.rerun.code, "the view can re-run and insert code");
  const spec = JSON.parse(/steer\.patch\.rerun\(model, (.*), \$TARGET, \$MODE\);/.exec(view.rerun.code!)![1]);
  const again = await patch.rerun(toy, spec, target, "patch");
  assert.ok(Math.abs(again.metricAfter - p.metricAfter) < 1e-4, `${again.metricAfter} vs ${p.metricAfter}`);
  await assert.rejects(r.rerun({ heads: [{ layer: 9, head: 0 }] }), /layer 9 is out of range: this model has 4 layers \(valid: 0\.\.3\)/);
});

test("mean and resample ablation run on the clean prompt and report against the corrupted baseline", async () => {
  const mean = await patch.heads(toy, { clean: [ioi.clean, ioi.cleanSwapped], corrupt: [ioi.corrupt, ioi.corruptSwapped], metric: metrics.logitDiff([" Mary", " John"], [" John", " Mary"]), mode: "mean" });
  // The mean of the two swapped prompts' name-mover outputs favours neither name: the logit difference
  // goes to 0, halfway between the corrupted run (-x) and the clean one (x).
  assert.ok(Math.abs(mean.get(3, 2) - 0.5) < 0.1, `mean-ablating the name mover: ${mean.get(3, 2)}, expected about 0.5`);
  assert.ok(Math.abs(mean.get(0, 0) - 1) < 0.05, `an unused head keeps it: ${mean.get(0, 0)}`);
  const resample = await patch.heads(toy, { clean: ioi.clean, corrupt: ioi.corrupt, metric: metric(), mode: "resample" });
  assert.ok(resample.get(3, 2) < 0.05, `resampling the name mover from the corrupted run: ${resample.get(3, 2)}`);
});

test("an interrupted sweep stops between batches and keeps what it finished", async () => {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  toy.setAbortFlag(flag);
  try {
    const err = await patch
      .heads(toy, {
        clean: ioi.clean,
        corrupt: ioi.corrupt,
        metric: metric(),
        batchSize: 4,
        onProgress: (done) => {
          if (done === 8) Atomics.store(flag, 0, 1);
        },
      })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InterruptedError, `expected InterruptedError, got ${err}`);
    const partial = (err as InterruptedError & { partial: { done: number; total: number; result: { values: { data: Float32Array } } } }).partial;
    assert.equal(partial.done, 8);
    assert.equal(partial.total, 16);
    const v = partial.result.values.data;
    assert.ok(Number.isFinite(v[7]) && Number.isNaN(v[8]), "finished cells kept, the rest NaN");
    assert.match((err as Error).message, /8 of 16 interventions had finished/);
  } finally {
    Atomics.store(flag, 0, 0);
    toy.setAbortFlag(null);
  }
});

test("a metric token that is several tokens gets an error showing how it tokenizes", { skip: skipStories }, async () => {
  const m = await load(stories, { threads: 1 });
  try {
    await assert.rejects(
      patch.heads(m, { clean: "Once upon a time", corrupt: "Once upon a day", metric: metrics.logitDiff(" Mary", " Lily") }),
      (e: Error) => /" Mary" is not one token/.test(e.message) && /" M" \+ "ar" \+ "y"/.test(e.message),
    );
  } finally {
    m.dispose();
  }
});

let ref: RefModel;
test("a head-patching cell equals the reference forward pass with the same patch (stories260K)", { skip: skipStories }, async () => {
  const m = await load(stories, { threads: 1 });
  ref = loadReferenceModel(stories);
  try {
    const clean = m.tokenize("Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily");
    const lily = clean[14];
    const ben = m.tokenize(" Ben", { bos: false })[0];
    const corrupt = clean.map((t, i) => (i > 0 && t === lily ? ben : t));
    const metricLd = metrics.logitDiff(lily, ben);
    const r = await patch.heads(m, { clean, corrupt, metric: metricLd });
    const H = 8, Dh = 8;
    const name = "blocks.3.attn.hook_z";
    const cleanZ = forward(ref, clean).cache.get(name)!;
    const last = (logits: { shape: readonly number[]; data: Float32Array }) => logits.data.slice(-logits.shape[1]);
    const ld = (l: Float32Array) => l[lily] - l[ben];
    const refClean = ld(last(forward(ref, clean, { cache: false }).logits));
    const refCorrupt = ld(last(forward(ref, corrupt, { cache: false }).logits));
    const h = 5;
    const patched = forward(ref, corrupt, {
      cache: false,
      hooks: { [name]: (t) => { for (let p = 0; p < t.shape[0]; p++) t.data.set(cleanZ.data.subarray((p * H + h) * Dh, (p * H + h + 1) * Dh), (p * H + h) * Dh); } },
    });
    const expected = (ld(last(patched.logits)) - refCorrupt) / (refClean - refCorrupt);
    assert.ok(Math.abs(r.get(3, h) - expected) < 1e-3, `engine ${r.get(3, h)} vs reference ${expected}`);
    assert.ok(Math.abs(r.options.metric!.clean! - refClean) < 1e-3 * Math.abs(refClean) + 1e-4);
  } finally {
    m.dispose();
  }
});
