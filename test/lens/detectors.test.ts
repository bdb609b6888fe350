// Head detectors and attention patterns on the planted model: the previous-token, duplicate-token and
// induction heads of samples/models/toy-circuits.truth.json must rank first among all 16 heads.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { load, type Model } from "../../src/engine/index";
import { decodeTensor, parseComponent, VIEW_MIMES, VIEW_VALUE_CAP } from "../../src/protocol";
import { heads } from "../../src/lens/index";
import { bundled, ioi, skipStories, stories, truth, truthHeads } from "./helpers";

let toy: Model;
before(async () => {
  toy = await load(bundled, { threads: 1 });
});
after(() => toy?.dispose());

const planted = { "previous-token": truthHeads.previousToken, "duplicate-token": truthHeads.duplicate, induction: truthHeads.induction } as const;

// The planted heads read token codes every token has, so the default pool (every normal token) must
// work as well as the truth file's induction words (no names, which the name mover would compete for).
for (const [pool, poolName] of [[truth.induction.tokenIds as number[], "the truth file's induction words"], [undefined, "the default pool (the vocabulary's normal tokens)"]] as const) {
  describe(`detectors on random repeated sequences from ${poolName}`, () => {
    for (const kind of ["previous-token", "duplicate-token", "induction"] as const) {
      test(`${kind}: the planted head ${planted[kind]} ranks first of all heads`, async () => {
        const r = await heads.detect(toy, { kind, pool });
        assert.deepEqual(r.values.shape, [truth.nLayers, truth.nHeads]);
        const [first, second] = r.top(2, "max");
        console.log(`${kind} (${poolName}): ${first.name} ${first.value.toFixed(3)}, next ${second.name} ${second.value.toFixed(3)}`);
        assert.equal(first.name, planted[kind], `expected ${planted[kind]} first, got ${JSON.stringify(r.top(3, "max"))}`);
        // Repeated halves of 20 tokens after BOS: 20 of 41 queries have a target, so a perfect head scores 20/41.
        const perfect = kind === "previous-token" ? 40 / 41 : 20 / 41;
        assert.ok(first.value > 0.9 * perfect, `${first.name} scores ${first.value}, a perfect ${kind} head ${perfect}`);
        assert.ok(second.value < 0.25 * first.value, `runner-up ${second.name} ${second.value} should be far behind ${first.value}`);
        assert.match(r.options.valueLabel, new RegExp(`^${kind} score: .* / all attention, mean over 8 random sequences of 20 tokens repeated twice$`));
      });
    }
  });
}

describe("detector inputs", () => {
  test("detection patterns follow TransformerLens: previous token, earlier copies, the token after an earlier copy", () => {
    const toks = [1, 7, 8, 7, 8];
    const rows = (kind: Parameters<typeof heads.detectionPattern>[0]) => {
      const p = heads.detectionPattern(kind, toks);
      return Array.from({ length: 5 }, (_, q) => Array.from(p.subarray(q * 5, q * 5 + 5)).join(""));
    };
    assert.deepEqual(rows("previous-token"), ["00000", "10000", "01000", "00100", "00010"]);
    assert.deepEqual(rows("duplicate-token"), ["00000", "00000", "00000", "01000", "00100"]);
    assert.deepEqual(rows("induction"), ["00000", "00000", "00000", "00100", "00010"]);
  });

  test("random repeated sequences are seeded, start with BOS, repeat distinct normal tokens, and use the pool given", () => {
    const a = heads.randomRepeatedTokens(toy, { count: 3, seqLen: 10, seed: 7 });
    assert.deepEqual(a, heads.randomRepeatedTokens(toy, { count: 3, seqLen: 10, seed: 7 }));
    assert.notDeepEqual(a, heads.randomRepeatedTokens(toy, { count: 3, seqLen: 10, seed: 8 }));
    for (const s of a) {
      assert.equal(s.length, 21);
      assert.equal(s[0], truth.bos);
      assert.deepEqual(s.slice(1, 11), s.slice(11));
      assert.equal(new Set(s.slice(1, 11)).size, 10);
      // the toy vocabulary: 0 <unk>, 1 <s>, 2 </s>, 3..258 bytes; normal tokens follow
      for (const t of s.slice(1)) assert.ok(t >= 259, `token ${t} is special or a byte`);
    }
    const pool = [500, 501];
    assert.deepEqual(new Set(heads.randomRepeatedTokens(toy, { count: 1, seqLen: 2, pool })[0].slice(1)), new Set(pool));
  });

  test("a text prompt works for the previous-token detector; bad options name the problem", async () => {
    const r = await heads.detect(toy, { kind: "previous-token", prompts: [ioi.clean, ioi.corrupt] });
    assert.equal(r.top(1, "max")[0].name, truthHeads.previousToken);
    assert.match(r.options.valueLabel, /mean over 2 prompts$/);
    await assert.rejects(heads.detect(toy, { kind: "copying" as never }), /kind must be one of "previous-token", "duplicate-token", "induction", got "copying"/);
    await assert.rejects(heads.detect(toy, { kind: "induction", seqLen: 100 }), /seqLen 100 makes sequences of 201 tokens, more than this model's context \(128\); use seqLen <= 63/);
    await assert.rejects(heads.detect(toy, { kind: "induction", pool: [5, 6], seqLen: 3 }), /pool has 2 distinct tokens, fewer than seqLen 3/);
  });

  test("on stories260K every score is a share of attention (0..1) and its previous-token heads score high", { skip: skipStories }, async () => {
    const m = await load(stories, { threads: 1 });
    try {
      const r = await heads.detect(m, { kind: "previous-token" });
      for (const v of r.values.data) assert.ok(v >= 0 && v <= 1 + 1e-6, `score ${v} outside [0, 1]`);
      const best = r.top(1, "max")[0];
      console.log(`stories260K previous-token: ${JSON.stringify(r.top(3, "max").map((t) => [t.name, Number(t.value.toFixed(3))]))}`);
      assert.ok(best.value > 0.5, `best previous-token head ${best.name} ${best.value}`);
    } finally {
      m.dispose();
    }
  });
});

describe("attention patterns", () => {
  test("the previous-token head attends to the previous token; patterns equal hook_pattern and travel in the view", async () => {
    const { layer, head } = parseComponent(truthHeads.previousToken) as { layer: number; head: number };
    const r = await heads.attention(toy, ioi.clean, { layer });
    const { cache } = await toy.runWithCache(ioi.clean, { names: [`blocks.${layer}.attn.hook_pattern`] });
    const want = cache.get(`blocks.${layer}.attn.hook_pattern`);
    const P = r.tokens.length;
    assert.deepEqual(r.heads, [0, 1, 2, 3]);
    assert.deepEqual(Array.from(r.pattern(head).data), Array.from(want.head(head).data));
    const top = r.topKeys(head, 2);
    for (let q = 1; q < P; q++) assert.equal(top[q][0].pos, q - 1, `query ${q}: top key ${JSON.stringify(top[q])}`);
    for (let q = 0; q < P; q++) {
      const sum = Array.from(r.pattern(head).data.subarray(q * P, (q + 1) * P)).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `row ${q} sums to ${sum}`);
    }
    const view = r.payload();
    assert.deepEqual(view.patterns.shape, [4, P, P]);
    assert.deepEqual(Array.from(decodeTensor(view.patterns).subarray(head * P * P, (head + 1) * P * P)), Array.from(want.head(head).data));
    const out = r.toSteerOutput();
    assert.equal(out.items[0].mime, VIEW_MIMES.attention);
    assert.match(String(out.items[1].data), new RegExp(`${truthHeads.previousToken.replace(".", "\\.")}[\\s\\S]*\\| 2 " Mary" \\| 1 " When" \\|`));
  });

  test("patterns larger than the view's size limit keep their last positions", { skip: skipStories }, async () => {
    const m = await load(stories, { threads: 1 });
    try {
      const text = Array.from({ length: 520 }, (_, i) => 300 + (i % 200));
      const r = await heads.attention(m, text, { layer: 1 });
      const view = r.payload();
      const keep = Math.floor(Math.sqrt(VIEW_VALUE_CAP / 8));
      assert.deepEqual(view.patterns.shape, [8, keep, keep]);
      assert.equal(view.tokens.length, keep);
      assert.match(view.reduced ?? "", new RegExp(`only the last ${keep} of 520 positions`));
      // the kept corner is the tail of the full pattern: last query, last key
      const full = r.pattern(3);
      assert.equal(decodeTensor(view.patterns)[(3 * keep + keep - 1) * keep + keep - 1], full.get(519, 519));
    } finally {
      m.dispose();
    }
  });

  test("a subset of heads keeps their order; bad layers and heads name the range", async () => {
    const r = await heads.attention(toy, ioi.clean, { layer: 3, heads: [2, 0] });
    assert.deepEqual(r.payload().heads, [2, 0]);
    assert.throws(() => r.pattern(1), /Head 1 is not in this result: it holds heads 2, 0 of layer 3/);
    await assert.rejects(heads.attention(toy, ioi.clean, { layer: 4 }), /layer must be an integer from 0 to 3, got 4/);
    await assert.rejects(heads.attention(toy, ioi.clean, { layer: 0, heads: [4] }), /head 4 is out of range: layer 0 has 4 heads \(valid: 0\.\.3\)/);
  });
});
