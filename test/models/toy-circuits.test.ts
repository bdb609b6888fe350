// The planted model: the committed file is what the generator makes, it loads in llama.cpp, and each
// claim of its truth file holds under the reference forward pass (test/engine checks them through llama.cpp).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { makeToyCircuits, toyCircuitsTruth } from "../../src/models/index";
import { withLlamaCppModel } from "../gguf/llama-cpp";
import { forward, loadReferenceModel } from "../reference/index";
import {
  attentionToFirst, inductionAccuracy, inductionSequences, ioiLogitDiffs, ioiPrompt, massiveRatios, mean, zeroHead, zeroMassive,
  type ClaimForward, type ToyTruth,
} from "./toy-circuits-claims";

const repoRoot = path.resolve(__dirname, "../..");
const ggufPath = path.join(repoRoot, "samples/models/toy-circuits.gguf");
const truthPath = path.join(repoRoot, "samples/models/toy-circuits.truth.json");
const committed = readFileSync(ggufPath);
const truth = JSON.parse(readFileSync(truthPath, "utf8")) as ToyTruth;
const model = loadReferenceModel(committed);
const run: ClaimForward = async (tokens, hooks) => forward(model, tokens, { hooks, cache: false }).logits;
const template = truth.indirectObject.template;
const heads = Array.from({ length: truth.nLayers * truth.nHeads }, (_, i) => `a${Math.floor(i / truth.nHeads)}.h${i % truth.nHeads}`);

test("the committed model and truth file equal a fresh generation byte for byte, and the model is under 2 MB", () => {
  assert.equal(Buffer.compare(Buffer.from(makeToyCircuits()), committed), 0, "samples/models/toy-circuits.gguf differs from `steer-nb make-model toy-circuits`; regenerate it");
  assert.equal(readFileSync(truthPath, "utf8"), JSON.stringify(toyCircuitsTruth(), null, 2) + "\n");
  assert.ok(committed.length < 2 * 1024 * 1024, `${committed.length} bytes`);
});

test("llama.cpp loads the model and tokenizes the template and every name into the truth file's ids", async () => {
  await withLlamaCppModel(ggufPath, (m) => {
    const expected = ioiPrompt(truth, template, truth.nameTokenIds[0], truth.nameTokenIds[1]).slice(1);
    assert.deepEqual(m.tokenize("When Mary and John went to the store, John gave a drink to").map(Number), expected);
    truth.names.forEach((name, i) => assert.deepEqual(m.tokenize(name.trim()).map(Number), [truth.nameTokenIds[i]], name));
    assert.ok(truth.names.length >= 8);
  });
});

test("claim a, induction: >= 90% on repeated random words; ablating the previous-token or induction head drops it below 20%; any other head moves it < 5 points", async () => {
  const seqs = inductionSequences(truth, 8);
  const base = await inductionAccuracy(run, truth, {}, seqs);
  assert.ok(base >= 0.9, `accuracy ${base}`);
  for (const h of heads) {
    const acc = await inductionAccuracy(run, truth, zeroHead(truth, h), seqs);
    if (h === truth.induction.previousTokenHead || h === truth.induction.inductionHead) assert.ok(acc < 0.2, `ablating ${h}: accuracy ${acc}, expected < 0.2`);
    else assert.ok(Math.abs(acc - base) < 0.05, `ablating ${h}: accuracy ${acc} vs ${base}`);
  }
});

test("claim b, indirect object: logit(IO) - logit(S) >= 2 on every ordered pair of names, so swapping the repeated name flips the answer", async () => {
  const results = await ioiLogitDiffs(run, truth, template);
  assert.equal(results.length, truth.nameTokenIds.length * (truth.nameTokenIds.length - 1));
  const worst = results.reduce((a, b) => (b.diff < a.diff ? b : a));
  assert.ok(worst.diff >= 2, `IO ${worst.io} vs S ${worst.s}: logit difference ${worst.diff}`);
  assert.ok(results.every((r) => r.top === r.io), "the indirect object is the top prediction");
  const ablated = await ioiLogitDiffs(run, truth, template, zeroHead(truth, truth.indirectObject.nameMoverHead));
  assert.ok(mean(ablated.map((r) => r.diff)) < 1, `without the name mover the mean difference is ${mean(ablated.map((r) => r.diff))}`);
  const noDup = await ioiLogitDiffs(run, truth, template, zeroHead(truth, truth.indirectObject.duplicateTokenHead));
  assert.ok(mean(noDup.map((r) => r.diff)) < 1, `without the duplicate-token head the mean difference is ${mean(noDup.map((r) => r.diff))}`);
});

test("claim c, massive activation: from its layer on, the first token's massive dimension is >= 100x the median |residual|, and absent before", async () => {
  const tokens = ioiPrompt(truth, template, truth.nameTokenIds[0], truth.nameTokenIds[1]);
  const seen = await massiveRatios(run, truth, tokens);
  assert.equal(seen.length, truth.nLayers - truth.massive.fromLayer + 1);
  for (const s of seen) assert.ok(s.ratio >= 100, `layer ${s.layer}: ratio ${s.ratio}`);
  assert.ok(Math.abs(seen[0].value - truth.massive.value) < 1, `massive value ${seen[0].value}`);
  let before = NaN;
  await run(tokens, { [`blocks.${truth.massive.fromLayer - 1}.hook_resid_pre`]: (t) => { before = t.data[truth.massive.dim]; } });
  assert.ok(Math.abs(before) < 1, `before layer ${truth.massive.fromLayer} the dimension holds ${before}`);
});

test("claim c, attention sink: heads with nothing to attend to put >= 90% on the first token; zeroing the massive value breaks that and the name circuit", async (t) => {
  const ioi = ioiPrompt(truth, template, truth.nameTokenIds[0], truth.nameTokenIds[1]);
  const s2 = 1 + template.lastIndexOf("S");
  const beforeS2 = Array.from({ length: s2 - 1 }, (_, i) => i + 1);
  const seq = inductionSequences(truth, 1)[0];
  const n = (seq.length - 1) / 2;
  const firstHalf = Array.from({ length: n - 1 }, (_, i) => i + 2);
  const cases: [string, number[], number[]][] = [
    [truth.indirectObject.duplicateTokenHead, ioi, beforeS2], // before S2 nothing repeats
    [truth.indirectObject.inhibitionHead, ioi, beforeS2], // before S2 no repeated name
    [truth.indirectObject.nameMoverHead, seq, Array.from({ length: 2 * n - 1 }, (_, i) => i + 2)], // no names at all
    [truth.induction.inductionHead, seq, firstHalf], // first half: no earlier copy
  ];
  for (const [head, tokens, queries] of cases) {
    const a = await attentionToFirst(run, head, tokens, queries);
    assert.ok(a >= 0.9, `${head}: ${a} of its attention on the first token`);
    const broken = await attentionToFirst(run, head, tokens, queries, zeroMassive(truth));
    assert.ok(broken < 0.5, `${head} with the massive value zeroed: ${broken} on the first token`);
    t.diagnostic(`${head}: attention on the first token ${a.toFixed(3)}, with the massive value zeroed ${broken.toFixed(3)}`);
  }
  const base = mean((await ioiLogitDiffs(run, truth, template)).map((r) => r.diff));
  const broken = mean((await ioiLogitDiffs(run, truth, template, zeroMassive(truth))).map((r) => r.diff));
  assert.ok(broken < base / 2, `zeroing the massive value: mean logit difference ${broken} vs ${base}`);
});
