// runBatch packs sequences into shared decodes; every result must equal its one-by-one run.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { addVector, load, zero, type BatchItem, type Model } from "../../src/engine/index";
import { forward, loadReferenceModel } from "../reference/index";
import { assertClose, prompt, relativeError, skipStories, stories } from "./helpers";

const names = ["blocks.1.attn.hook_pattern", "blocks.2.attn.hook_attn_scores", "blocks.3.attn.hook_z", "blocks.4.hook_resid_post", "ln_final.hook_normalized"];

function items(model: Model): BatchItem[] {
  const long = model.tokenize(prompt);
  const short = model.tokenize("Tom had a red ball.");
  const mid = model.tokenize("The sun was warm and the birds were singing in the tree.");
  return [
    { input: long, names },
    { input: short, names, hooks: { "blocks.3.attn.hook_z": zero({ heads: [1, 6] }) } },
    { input: mid, names, hooks: { "blocks.1.hook_resid_post": addVector(new Float32Array(64).fill(0.3), { scale: 2 }) } },
    { input: long, names, logits: "last", hooks: { "blocks.0.attn.hook_pattern": zero({ heads: [3], positions: [10, 11] }) } },
  ];
}

let model: Model;
before(async () => {
  if (!skipStories) model = await load(stories, { contextSize: 512, threads: 1 });
});
after(() => model?.dispose());

async function assertSameAsOneByOne(batchModel: Model, what: string) {
  const list = items(batchModel);
  const batched = await batchModel.runBatch(list);
  for (let i = 0; i < list.length; i++) {
    const single = (await model.runBatch([list[i]]))[0];
    assertClose(batched[i].logits, single.logits, `${what} item ${i} logits`, 1e-5);
    for (const n of names) assertClose(batched[i].cache.get(n), single.cache.get(n), `${what} item ${i} ${n}`, 1e-5);
  }
}

test("runBatch of four different sequences and hooks equals one-by-one runs", { skip: skipStories }, async () => {
  await assertSameAsOneByOne(model, "one decode");
});

test("with a batch of 8 tokens and a context of 64, sequences split across decodes and groups still equal one-by-one runs", { skip: skipStories }, async () => {
  const small = await load(stories, { contextSize: 64, batchSize: 8, threads: 1 });
  try {
    await assertSameAsOneByOne(small, "small batches");
    // and a sequence split over several decodes still matches the reference, attention pattern included
    const tokens = small.tokenize(prompt);
    const { cache } = await small.runWithCache(tokens, { names: ["blocks.2.attn.hook_pattern"] });
    const r = forward(loadReferenceModel(stories), tokens);
    assertClose(cache.get("blocks.2.attn.hook_pattern"), r.cache.get("blocks.2.attn.hook_pattern")!, "pattern over split decodes");
  } finally {
    small.dispose();
  }
});

test("a batch item's hooks touch only its own rows", { skip: skipStories }, async () => {
  const tokens = model.tokenize(prompt);
  const [plain, ablated, plainAgain] = await model.runBatch([
    { input: tokens, names: [] },
    { input: tokens, names: [], hooks: { "blocks.2.hook_resid_post": zero() } },
    { input: tokens, names: [] },
  ]);
  // Rows in other places of a batch may round differently (about 1e-6), never more.
  assertClose(plainAgain.logits, plain.logits, "the same input twice in one batch", 1e-5);
  assert.ok(relativeError(ablated.logits, plain.logits) > 0.1, "zeroing resid_post 2 in item 1 changed item 1");
});
