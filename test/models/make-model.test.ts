import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { UsageError } from "../../src/cli/command";
import { makeModelCommand } from "../../src/cli/make-model";
import { makeRandomModel, makeToyCircuits, toyCircuitsTruth } from "../../src/models/index";

const dir = mkdtempSync(path.join(tmpdir(), "make-model-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function quietly(args: string[]): Promise<number> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await makeModelCommand.run(args);
  } finally {
    process.stdout.write = write;
  }
}

test("make-model random writes the same bytes as makeRandomModel with the same options", async () => {
  const out = path.join(dir, "r.gguf");
  const code = await quietly(["random", "--arch", "qwen2", "--layers", "1", "--heads", "4", "--kv-heads", "2", "--d-model", "32", "--d-mlp", "48", "--vocab", "600", "--ctx", "64", "--seed", "5", "--out", out]);
  assert.equal(code, 0);
  const expected = makeRandomModel({ arch: "qwen2", layers: 1, heads: 4, kvHeads: 2, dModel: 32, dMlp: 48, vocab: 600, ctx: 64, seed: 5 });
  assert.equal(Buffer.compare(readFileSync(out), Buffer.from(expected)), 0);
});

test("make-model toy-circuits writes the model and its truth file", async () => {
  const out = path.join(dir, "toy.gguf");
  assert.equal(await quietly(["toy-circuits", "--out", out]), 0);
  assert.equal(Buffer.compare(readFileSync(out), Buffer.from(makeToyCircuits())), 0);
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "toy.truth.json"), "utf8")), JSON.parse(JSON.stringify(toyCircuitsTruth())));
});

const usage: [string[], RegExp][] = [
  [[], /missing the kind of model/],
  [["cnn", "--out", "x.gguf"], /unknown kind "cnn"/],
  [["random"], /missing --out/],
  [["random", "--out", "x.gguf", "--arch", "bert"], /unknown --arch "bert"/],
  [["random", "--out", "x.gguf", "--layers", "two"], /--layers must be a non-negative integer/],
  [["random", "--out", "x.gguf", "--d-model", "30"], /d_model 30 is not a multiple of heads 4/],
  [["random", "--out", "x.gguf", "--bogus"], /Unknown option '--bogus'/],
  [["random", "--out", "/nonexistent-dir/m.gguf"], /the folder \/nonexistent-dir does not exist/],
];
for (const [args, message] of usage) {
  test(`make-model ${args.join(" ") || "(no arguments)"}: usage error naming the problem`, async () => {
    await assert.rejects(quietly(args.map((a) => (a === "x.gguf" ? path.join(dir, a) : a))), (e: unknown) => e instanceof UsageError && message.test(e.message));
  });
}
