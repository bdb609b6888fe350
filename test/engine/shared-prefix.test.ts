// runBatch with sharedPrefix p decodes the common first p tokens once and shares their KV cells with
// every item: results must equal the plain runBatch (hooks editing only positions >= p) to 1e-5.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BadArgumentError, load, Tensor, zero, type BatchItem, type HookFn, type Model } from "../../src/engine/index";
import { generatedModels } from "./generated";
import { assertClose, skipStories, stories } from "./helpers";

const P = 10;

/** Item i: the common prefix, then a suffix of its own (lengths differ). */
function tokens(i: number): number[] {
  const prefix = Array.from({ length: P }, (_, k) => 1 + ((k * 7) % 50));
  const suffix = Array.from({ length: 4 + (i % 3) * 3 }, (_, k) => 1 + ((k * 5 + i * 11) % 60));
  return [...prefix, ...suffix];
}

/** Takes attention away from keys 0 and 1 (prefix keys) at every query from P on: tests the keys' cell mapping. */
const dropFirstKeys: HookFn = (t, ctx) => {
  const [H, q, K] = t.shape;
  for (let h = 0; h < H; h++)
    for (let i = 0; i < q; i++) if (ctx.positions[i] >= P) t.data.fill(0, (h * q + i) * K, (h * q + i) * K + 2);
};

/** Adds a ramp to the residual stream at positions >= P. */
const nudge: HookFn = (t, ctx) => {
  const w = t.shape[1];
  for (let i = 0; i < t.shape[0]; i++) if (ctx.positions[i] >= P) for (let j = 0; j < w; j++) t.data[i * w + j] += 0.01 * (j % 7);
};

const names = (l: number) => [`blocks.${l}.hook_resid_pre`, `blocks.${l}.attn.hook_pattern`, `blocks.${l}.attn.hook_z`, `blocks.${l}.hook_attn_out`];

function items(): BatchItem[] {
  const after = (n: number) => Array.from({ length: n - P }, (_, k) => P + k);
  return [
    { input: tokens(0), names: names(1) },
    { input: tokens(1), names: names(1), hooks: { "blocks.0.attn.hook_z": zero({ heads: [1], positions: after(tokens(1).length) }) } },
    { input: tokens(2), logits: "last", names: [], hooks: { "blocks.1.attn.hook_pattern": dropFirstKeys } },
    { input: tokens(3), names: ["blocks.1.hook_resid_post"], hooks: { "blocks.0.hook_resid_post": nudge, "blocks.1.hook_attn_out": nudge } },
    { input: tokens(4), logits: "last", names: ["blocks.0.attn.hook_q"], hooks: { "blocks.1.attn.hook_q": zero({ heads: [0, 2], positions: after(tokens(4).length) }) } },
  ];
}

async function compare(model: Model, what: string) {
  const list = items();
  const plain = await model.runBatch(list);
  const plainStats = model.lastRunStats();
  const progress: [number, number][] = [];
  const shared = await model.runBatch(list, { sharedPrefix: P, onProgress: (done, total) => progress.push([done, total]) });
  const stats = model.lastRunStats();
  // The hooks do something: otherwise equal results would prove nothing.
  const unhooked = await model.runBatch(list.map((it) => ({ input: it.input, logits: it.logits, names: [] })));
  for (const i of [1, 2, 3, 4]) {
    const d = Math.max(...unhooked[i].logits.data.map((v, k) => Math.abs(v - shared[i].logits.data[k])));
    assert.ok(d > 1e-4, `${what} item ${i}: its hooks changed the logits by only ${d}`);
  }
  for (let i = 0; i < list.length; i++) {
    assertClose(shared[i].logits, plain[i].logits, `${what} item ${i} logits`, 1e-5);
    for (const name of shared[i].cache.keys()) {
      const a = shared[i].cache.get(name);
      const b = plain[i].cache.get(name);
      assertClose(rowsFrom(a, P), rowsFrom(b, P), `${what} item ${i} ${name} at positions >= ${P}`, 1e-5);
      assert.ok(rowsBefore(a, P).every(Number.isNaN), `${what} item ${i} ${name}: rows before the prefix end should be NaN (not recorded)`);
    }
  }
  const total = list.reduce((n, it) => n + (it.input as number[]).length, 0);
  assert.equal(plainStats.decodedTokens, total, `${what}: the plain run decodes every token`);
  assert.equal(plainStats.sharedPrefixTokens, 0);
  assert.equal(stats.decodedTokens + stats.sharedPrefixTokens, total, `${what}: decoded + shared = all tokens (got ${JSON.stringify(stats)})`);
  assert.ok(stats.sharedPrefixTokens >= P, `${what}: some prefix tokens were shared (got ${JSON.stringify(stats)})`);
  assert.deepEqual(progress.at(-1), [list.length, list.length], `${what}: progress ends at total (got ${JSON.stringify(progress)})`);
  assert.ok(progress.every(([d], k) => k === 0 || d >= progress[k - 1][0]), `${what}: progress never goes back (got ${JSON.stringify(progress)})`);
  return stats;
}

/** Rows at positions >= p of [pos, ...] or [head, query_pos, key_pos] tensors. */
function rowsFrom(t: Tensor, p: number): Tensor {
  if (t.dims[0] === "pos") return new Tensor([t.shape[0] - p, ...t.shape.slice(1)], t.data.slice((p * t.size) / t.shape[0]));
  const [H, n] = t.shape;
  const out = new Tensor([H, n - p, n]);
  for (let h = 0; h < H; h++) out.data.set(t.data.subarray((h * n + p) * n, (h + 1) * n * n), h * (n - p) * n);
  return out;
}

function rowsBefore(t: Tensor, p: number): number[] {
  if (t.dims[0] === "pos") return Array.from(t.data.subarray(0, (p * t.size) / t.shape[0]));
  const [H, n] = t.shape;
  return Array.from({ length: H }, (_, h) => Array.from(t.data.subarray(h * n * n, (h * n + p) * n))).flat();
}

const models = [...generatedModels, { arch: "stories260K", path: () => stories, skip: skipStories }];

for (const g of models) {
  test(`${g.arch}: a shared prefix gives the same logits and caches (positions >= p) as the plain batch, in one decode group`, { skip: g.skip }, async () => {
    const model = await load(g.path(), { contextSize: 256, threads: 1 });
    try {
      const stats = await compare(model, g.arch);
      assert.equal(stats.sharedPrefixTokens, P * (items().length - 1), "one group: the prefix is decoded once");
      assert.equal(stats.decodes, 2, "one decode for the prefix, one for every suffix");
    } finally {
      model.dispose();
    }
  });
}

test("with a batch of 8 tokens and a context of 40, the prefix is decoded once per group and decodes split, results unchanged", async () => {
  const model = await load(generatedModels[0].path(), { contextSize: 40, batchSize: 8, threads: 1 });
  try {
    const stats = await compare(model, "small context");
    assert.ok(stats.decodes > 4, `several decodes (got ${stats.decodes})`);
  } finally {
    model.dispose();
  }
});

test("a shared prefix that the items do not share, or that leaves an item no token, is refused clearly", async () => {
  const model = await load(generatedModels[0].path(), { contextSize: 128, threads: 1 });
  try {
    const a = tokens(0);
    const b = [...a];
    b[3] = b[3] + 1;
    await assert.rejects(model.runBatch([{ input: a }, { input: b }], { sharedPrefix: P }), (e: Error) => {
      assert.ok(e instanceof BadArgumentError, `got ${e.name}`);
      assert.match(e.message, /sharedPrefix 10: item 1 differs from item 0 at position 3 .* Give a sharedPrefix of at most 3/);
      return true;
    });
    await assert.rejects(model.runBatch([{ input: a }, { input: a.slice(0, P) }], { sharedPrefix: P }), /leaves item 1 \(10 tokens\) no token of its own/);
    await assert.rejects(model.runBatch([{ input: a }], { sharedPrefix: 2.5 }), /sharedPrefix must be a non-negative integer/);
  } finally {
    model.dispose();
  }
});
