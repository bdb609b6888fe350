// Threads "auto": every core on an idle machine, fewer beside busy processes (llama.cpp's workers spin
// at barriers, so a worker pushed off its core stalls the rest); a fixed number stays fixed.
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { load } from "../../src/engine/index";
import { freeCoreThreads } from "../../src/engine/threads";
import { generatedModels } from "./generated";

test("the thread count leaves other runnable tasks their cores, never below 1 nor above the pool", () => {
  const cases: [pool: number, others: number | null, cores: number, expected: number][] = [
    [16, 0, 16, 16],
    [16, 1, 16, 15],
    [2, 0, 2, 2],
    [2, 1, 2, 1],
    [2, 7, 2, 1],
    [8, 0, 16, 8],
    [16, null, 16, 15],
    [1, null, 1, 1],
  ];
  for (const [pool, others, cores, expected] of cases) {
    assert.equal(freeCoreThreads(pool, others, cores), expected, `pool ${pool}, ${others} others runnable, ${cores} cores: expected ${expected}`);
  }
});

test("a model loaded with default threads runs with 1..cores threads; a fixed count is kept", async () => {
  const auto = await load(generatedModels[0].path(), { contextSize: 64 });
  const fixed = await load(generatedModels[0].path(), { contextSize: 64, threads: 1 });
  try {
    await auto.runWithCache([1, 2, 3], { names: [], logits: "last" });
    const used = auto.lastRunStats().threads;
    assert.ok(used >= 1 && used <= availableParallelism(), `auto used ${used} threads on ${availableParallelism()} cores`);
    await fixed.runWithCache([1, 2, 3], { names: [], logits: "last" });
    assert.equal(fixed.lastRunStats().threads, 1);
    const same = await fixed.runWithCache([1, 2, 3], { names: [], logits: "last" });
    const other = await auto.runWithCache([1, 2, 3], { names: [], logits: "last" });
    assert.ok(same.logits.data.every((v, i) => Math.abs(v - other.logits.data[i]) < 1e-4), "the thread count does not change results");
  } finally {
    auto.dispose();
    fixed.dispose();
  }
});
