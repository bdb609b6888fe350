// Generation: greedy with hooks equals the reference's greedy tokens; seeded sampling is reproducible.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { addVector, load, zero, type GenerateOptions, type Model } from "../../src/engine/index";
import { generateGreedy, loadReferenceModel, type Hook, type RefModel } from "../reference/index";
import { prompt, skipStories, stories } from "./helpers";

let model: Model;
let ref: RefModel;
before(async () => {
  if (skipStories) return;
  model = await load(stories, { contextSize: 256, threads: 1 });
  ref = loadReferenceModel(stories);
});
after(() => model?.dispose());

const steer = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i));
const cases: { what: string; hooks: GenerateOptions["hooks"]; refHooks: Record<string, Hook> }[] = [
  { what: "no hooks", hooks: {}, refHooks: {} },
  {
    what: "head 3.5 zero-ablated",
    hooks: { "blocks.3.attn.hook_z": zero({ heads: [5] }) },
    refHooks: { "blocks.3.attn.hook_z": (t) => void Array.from({ length: t.shape[0] }, (_, p) => t.data.fill(0, (p * 8 + 5) * 8, (p * 8 + 6) * 8)) },
  },
  {
    what: "steering vector on resid_pre 2",
    hooks: { "blocks.2.hook_resid_pre": addVector(steer, { scale: 3 }) },
    refHooks: { "blocks.2.hook_resid_pre": (t) => void t.data.forEach((v, i) => (t.data[i] = v + 3 * steer[i % 64])) },
  },
];

for (const c of cases) {
  test(`greedy generation with ${c.what} equals the reference's greedy tokens`, { skip: skipStories }, async () => {
    const tokens = model.tokenize(prompt);
    const ours = await model.generate(tokens, { maxTokens: 16, hooks: c.hooks, stopAtEos: false });
    const theirs = generateGreedy(ref, tokens, 16, { hooks: c.refHooks });
    assert.deepEqual(ours.tokens, theirs);
    assert.equal(ours.text, model.detokenize(theirs));
  });
}

test("seeded sampling is reproducible and the seed matters", { skip: skipStories }, async () => {
  const opts = { maxTokens: 24, temperature: 1, stopAtEos: false };
  const a = await model.generate(prompt, { ...opts, seed: 7 });
  const b = await model.generate(prompt, { ...opts, seed: 7 });
  const c = await model.generate(prompt, { ...opts, seed: 8 });
  assert.deepEqual(a.tokens, b.tokens);
  assert.notDeepEqual(a.tokens, c.tokens);
  assert.equal(a.tokens.length, 24);
});
