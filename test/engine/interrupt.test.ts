// The kernel's interrupt flag (set from another thread while decode blocks this one) aborts a long
// run with InterruptedError; the model stays loaded and gives the same results afterwards.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Worker } from "node:worker_threads";
import { InterruptedError, load, zero, type Model } from "../../src/engine/index";
import { generatedModel } from "./generated";

let model: Model;
const flag = new Int32Array(new SharedArrayBuffer(4));

before(async () => {
  // Big enough that one forward pass of a full batch takes far longer than the interrupt delay.
  const path = generatedModel("interrupt-llama", { arch: "llama", layers: 8, heads: 8, dModel: 512, dMlp: 1536, seed: 4 });
  model = await load(path, { contextSize: 2048, batchSize: 2048, threads: 1, abortFlag: flag });
});
after(() => model?.dispose());

/** Sets flag[0] = 1 after `ms`, from a worker thread (the main thread is busy in llama_decode). */
function interruptAfter(ms: number): Worker {
  return new Worker(
    `const { workerData } = require("node:worker_threads");
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
     Atomics.store(workerData.flag, 0, 1);`,
    { eval: true, workerData: { flag, ms } },
  );
}

const long = Array.from({ length: 2000 }, (_, i) => 1 + (i % 100));
const runs: { what: string; run: () => Promise<unknown> }[] = [
  { what: "a long runBatch", run: () => model.runBatch(Array.from({ length: 8 }, (_, h) => ({ input: long.slice(0, 250), names: [], hooks: { "blocks.3.attn.hook_z": zero({ heads: [h] }) } }))) },
  { what: "a long generate", run: () => model.generate(long.slice(0, 1000), { maxTokens: 1000, stopAtEos: false }) },
];

for (const { what, run } of runs) {
  test(`interrupting ${what} throws InterruptedError within a second, and the model still works`, async () => {
    const short = [1, 5, 9, 13];
    const before = await model.runWithCache(short, { names: [], logits: "last" });
    const worker = interruptAfter(200);
    const started = Date.now();
    try {
      await assert.rejects(run(), InterruptedError);
    } finally {
      await worker.terminate();
    }
    const elapsed = Date.now() - started;
    Atomics.store(flag, 0, 0);
    assert.ok(elapsed < 1200 + 200, `took ${elapsed} ms to stop`);
    const afterwards = await model.runWithCache(short, { names: [], logits: "last" });
    assert.deepEqual(afterwards.logits.data, before.logits.data);
  });
}

test("a raised flag stops a run before it starts", async () => {
  Atomics.store(flag, 0, 1);
  try {
    await assert.rejects(model.runWithCache([1, 2, 3]), /Interrupted\. The model is still loaded/);
  } finally {
    Atomics.store(flag, 0, 0);
  }
});
