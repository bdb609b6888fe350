// The planted model: the committed file is what the generator makes, it loads in llama.cpp, and each
// claim of its truth file holds on every backend in the table: the independent reference forward pass
// and llama.cpp through the engine, measured by the same functions (toy-circuits-claims.ts).
// Each claim test prints what it measured (diagnostics); docs/toy-circuits.md quotes those numbers.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { load } from "../../src/engine/index";
import { makeToyCircuits, toyCircuitsTruth } from "../../src/models/index";
import { withLlamaCppModel } from "../gguf/llama-cpp";
import { forward, loadReferenceModel } from "../reference/index";
import {
  attentionToFirst, inductionAccuracy, inductionSequences, ioiLogitDiffs, ioiPrompt, massiveRatios, mean, zeroHead, zeroMassive,
  type ClaimForward, type IoiResult, type ToyTruth,
} from "./toy-circuits-claims";

const repoRoot = path.resolve(__dirname, "../..");
const ggufPath = path.join(repoRoot, "samples/models/toy-circuits.gguf");
const truthPath = path.join(repoRoot, "samples/models/toy-circuits.truth.json");
const committed = readFileSync(ggufPath);
const truth = JSON.parse(readFileSync(truthPath, "utf8")) as ToyTruth;
const template = truth.indirectObject.template;
const heads = Array.from({ length: truth.nLayers * truth.nHeads }, (_, i) => `a${Math.floor(i / truth.nHeads)}.h${i % truth.nHeads}`);

interface Opened {
  forward: ClaimForward;
  dispose(): void;
}

interface Backend {
  name: string;
  open(): Promise<Opened>;
}

const backends: Backend[] = [
  {
    name: "reference",
    open: async () => {
      const model = loadReferenceModel(committed);
      return { forward: async (tokens, hooks) => forward(model, tokens, { hooks, cache: false }).logits, dispose: () => undefined };
    },
  },
  {
    name: "llama.cpp engine",
    open: async () => {
      // One thread: two ggml threads on this 2-core machine stall whenever another process takes a core.
      // One run per call, as the claim functions ask: runBatch measured under 15% faster on these short runs,
      // not worth a batch-shaped claim API.
      const model = await load(ggufPath, { contextSize: truth.contextLength, threads: 1 });
      return { forward: async (tokens, hooks) => (await model.runWithHooks(tokens, hooks ?? {})).logits, dispose: () => model.dispose() };
    },
  },
];

const fmt = (x: number, digits = 2) => x.toFixed(digits);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

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

for (const backend of backends) {
  describe(`claims on the ${backend.name}`, () => {
    let opened: Opened | undefined;
    before(async () => {
      opened = await backend.open();
    });
    after(() => opened?.dispose());
    const run: ClaimForward = (tokens, hooks) => opened!.forward(tokens, hooks);
    const say = (message: string) => `${backend.name}: ${message}`;
    // The unablated IOI results serve claim b and the sink claim; computed once per backend.
    let ioiBase: Promise<IoiResult[]> | undefined;
    const baseIoi = () => (ioiBase ??= ioiLogitDiffs(run, truth, template));

    test("claim a, induction: >= 90% on repeated random words; ablating the previous-token or induction head drops it below 20%; any other head moves it < 5 points", async (t) => {
      const seqs = inductionSequences(truth, 8);
      const base = await inductionAccuracy(run, truth, {}, seqs);
      assert.ok(base >= 0.9, say(`accuracy ${base}, expected >= 0.9`));
      const others: number[] = [];
      for (const h of heads) {
        const acc = await inductionAccuracy(run, truth, zeroHead(truth, h), seqs);
        if (h === truth.induction.previousTokenHead || h === truth.induction.inductionHead) {
          assert.ok(acc < 0.2, say(`ablating ${h}: accuracy ${acc}, expected < 0.2`));
          t.diagnostic(say(`ablating ${h}: ${pct(acc)}`));
        } else {
          assert.ok(Math.abs(acc - base) < 0.05, say(`ablating ${h}: accuracy ${acc} vs ${base} unablated, expected within 0.05`));
          others.push(acc);
        }
      }
      t.diagnostic(say(`accuracy ${pct(base)} over ${seqs.length} sequences; ablating any other head: ${pct(Math.min(...others))} to ${pct(Math.max(...others))}`));
    });

    test("claim b, indirect object: logit(IO) - logit(S) >= 2 on every ordered pair of names, so swapping the repeated name flips the answer; without any of the three name-circuit heads the mean falls below 1", async (t) => {
      const results = await baseIoi();
      assert.equal(results.length, truth.nameTokenIds.length * (truth.nameTokenIds.length - 1), say("one result per ordered pair"));
      const worst = results.reduce((a, b) => (b.diff < a.diff ? b : a));
      assert.ok(worst.diff >= 2, say(`IO ${worst.io} vs S ${worst.s}: logit difference ${worst.diff}, expected >= 2`));
      const top = results.filter((r) => r.top === r.io).length;
      assert.equal(top, results.length, say("the indirect object is the top prediction on every pair"));
      // Each head of the name circuit is necessary: without it the mean difference collapses.
      const ablated: string[] = [];
      for (const [role, head] of [["name mover", truth.indirectObject.nameMoverHead], ["duplicate-token head", truth.indirectObject.duplicateTokenHead], ["S-inhibition head", truth.indirectObject.inhibitionHead]]) {
        const m = mean((await ioiLogitDiffs(run, truth, template, zeroHead(truth, head))).map((r) => r.diff));
        assert.ok(m < 1, say(`without the ${role} ${head} the mean difference is ${m}, expected < 1`));
        ablated.push(`${role} ${head}: ${fmt(m)}`);
      }
      t.diagnostic(say(`logit difference min ${fmt(worst.diff)}, mean ${fmt(mean(results.map((r) => r.diff)))}, IO top-1 on ${top}/${results.length}; mean when ablating the ${ablated.join(", the ")}`));
    });

    test("claim c, massive activation: from its layer on, the first token's massive dimension is >= 100x the median |residual|, and absent before", async (t) => {
      const tokens = ioiPrompt(truth, template, truth.nameTokenIds[0], truth.nameTokenIds[1]);
      const seen = await massiveRatios(run, truth, tokens);
      const where = (layer: number) => (Number.isInteger(layer) ? `after layer ${layer}` : `layer ${truth.massive.fromLayer} input`);
      assert.equal(seen.length, truth.nLayers - truth.massive.fromLayer + 1, say("one measurement per hooked layer"));
      for (const s of seen) assert.ok(s.ratio >= 100, say(`${where(s.layer)}: ratio ${s.ratio}, expected >= 100`));
      assert.ok(Math.abs(seen[0].value - truth.massive.value) < 1, say(`massive value ${seen[0].value}, expected ${truth.massive.value}`));
      let before = NaN;
      await run(tokens, { [`blocks.${truth.massive.fromLayer - 1}.hook_resid_pre`]: (a) => { before = a.data[truth.massive.dim]; } });
      assert.ok(Math.abs(before) < 1, say(`before layer ${truth.massive.fromLayer} the dimension holds ${before}, expected |x| < 1`));
      t.diagnostic(say(`massive value ${fmt(seen[0].value, 1)} (${fmt(before, 3)} before); ratio to the median |resid|: ${seen.map((s) => `${where(s.layer)} ${Math.round(s.ratio)}`).join(", ")}`));
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
        assert.ok(a >= 0.9, say(`${head}: ${a} of its attention on the first token, expected >= 0.9`));
        const broken = await attentionToFirst(run, head, tokens, queries, zeroMassive(truth));
        assert.ok(broken < 0.5, say(`${head} with the massive value zeroed: ${broken} on the first token, expected < 0.5`));
        t.diagnostic(say(`${head}: attention on the first token ${fmt(a, 3)}, with the massive value zeroed ${fmt(broken, 3)}`));
      }
      const base = mean((await baseIoi()).map((r) => r.diff));
      const zeroed = (await ioiLogitDiffs(run, truth, template, zeroMassive(truth))).map((r) => r.diff);
      const broken = mean(zeroed);
      assert.ok(broken < base / 2, say(`zeroing the massive value: mean logit difference ${broken} vs ${base}, expected under half`));
      t.diagnostic(say(`zeroing the massive value: mean logit difference ${fmt(base)} -> ${fmt(broken)} (min ${fmt(Math.min(...zeroed))})`));
    });
  });
}
