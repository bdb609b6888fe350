// The variables view's kernel side: tensors list with their shapes and axis names, a cache with its
// entries; a variable-view request returns the slice the panel draws (1-D, 2-D, a 3-D slice, a cache
// entry), the values equal to the tensor's own, cut to the cap when too large, and a wrong name or a
// value that is not a tensor gets an error naming it and what can be viewed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KernelClient, VariableViewOutcome } from "../../src/host";
import { decodeTensor, TENSOR_VIEW_AXIS_CAP, VIEW_VALUE_CAP, type TensorSliceView, type VariableInfo } from "../../src/protocol";
import { assertOk, newClient, runCell } from "./harness";

const setup = [
  "const model = await steer.load();",
  'const tokens = model.tokenize("When Mary and John went to the store");',
  'const { logits, cache } = await model.runWithCache(tokens, { names: ["blocks.0.hook_resid_post", "blocks.3.attn.hook_pattern"] });',
  "const T = logits.constructor as any;",
  "const vec = new T([5], Float32Array.from([-2, -1, 0, 1, 2]), ['d']);",
  "const grid = new T([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]), ['row', 'col']);",
  "const cube = new T([2, 3, 4], Float32Array.from({ length: 24 }, (_, i) => i - 5), ['a', 'b', 'c']);",
  "const big = new T([3000, 600], Float32Array.from({ length: 3000 * 600 }, (_, i) => i % 997), ['r', 'c']);",
  "const run = { logits, cache, note: 'x' };",
  "const byName = new Map([['g', grid], ['n', 3]]);",
  "const words = 'not a tensor';",
  "const pattern = cache.get('blocks.3.attn.hook_pattern');",
  "console.log(JSON.stringify({ logits: logits.shape, resid: cache.get('blocks.0.hook_resid_post').shape, pattern: pattern.shape, head2: Array.from(pattern.select('head', 2).data) }));",
].join("\n");

interface Truth {
  logits: number[];
  resid: number[];
  pattern: number[];
  head2: number[];
}

function viewOf(outcome: VariableViewOutcome): TensorSliceView {
  assert.equal(outcome.status, "ok", `expected a view, got ${JSON.stringify(outcome)}`);
  return (outcome as { view: TensorSliceView }).view;
}

function errorOf(outcome: VariableViewOutcome): string {
  assert.equal(outcome.status, "error", `expected an error answer, got status ${outcome.status}`);
  return (outcome as { message: string }).message;
}

describe("variables and variable-view", { timeout: 60_000 }, () => {
  let client: KernelClient;
  let truth: Truth;
  before(async () => {
    client = newClient();
    const run = await runCell(client, setup);
    assertOk(run, setup);
    truth = JSON.parse(run.text.trim().split("\n").pop()!) as Truth;
  });
  after(() => client.dispose());

  test("variables report a tensor's type, shape and dims, and a cache's entry count and entries", async () => {
    const outcome = await client.variables();
    assert.equal(outcome.status, "ok", JSON.stringify(outcome));
    const byName = new Map(outcome.status === "ok" ? outcome.variables.map((v) => [v.name, v]) : []);
    const logits = byName.get("logits");
    assert.equal(logits?.type, "Tensor");
    assert.deepEqual(logits?.shape, truth.logits);
    assert.deepEqual(logits?.dims, ["pos", "vocab"]);
    assert.match(logits!.summary, new RegExp(`^Tensor \\[pos, vocab\\] ${truth.logits.join("x")}, values -?[\\d.e+-]+ \\.\\. -?[\\d.e+-]+$`));
    assert.deepEqual(byName.get("grid"), { name: "grid", type: "Tensor", summary: "Tensor [row, col] 2x3, values 1 .. 6", shape: [2, 3], dims: ["row", "col"] });

    const cache = byName.get("cache")!;
    assert.equal(cache.type, "ActivationCache(2)");
    assert.deepEqual(cache.entries?.map((e) => [e.name, e.type, e.shape, e.dims]), [
      ['cache["blocks.0.hook_resid_post"]', "Tensor", truth.resid, ["pos", "d_model"]],
      ['cache["blocks.3.attn.hook_pattern"]', "Tensor", truth.pattern, ["head", "query_pos", "key_pos"]],
    ]);
    // An object holding tensors lists them (and the cache's entries under it); its other fields are not entries.
    const run = byName.get("run")!;
    const names = (infos: VariableInfo[] | undefined): string[] => (infos ?? []).flatMap((e) => [e.name, ...names(e.entries)]);
    assert.deepEqual(names(run.entries), ["run.logits", "run.cache", 'run.cache["blocks.0.hook_resid_post"]', 'run.cache["blocks.3.attn.hook_pattern"]']);
    assert.equal(byName.get("words")?.entries, undefined);
    assert.equal(byName.get("model")?.type, "Model", "class instances show their class's own name");
    const map = byName.get("byName")!;
    assert.deepEqual([map.type, map.entries?.map((e) => e.name)], ["Map(2)", ['byName["g"]']], "a Map lists its tensors");
  });

  test("a 2-D tensor comes back as is, a 1-D one as one row", async () => {
    const grid = viewOf(await client.variableView("grid"));
    assert.deepEqual({ shape: grid.shape, dims: grid.dims, slice: grid.slice, values: grid.values.shape }, { shape: [2, 3], dims: ["row", "col"], slice: [], values: [2, 3] });
    assert.deepEqual(Array.from(decodeTensor(grid.values)), [1, 2, 3, 4, 5, 6]);
    assert.equal(grid.reduced, undefined);
    const vec = viewOf(await client.variableView("vec"));
    assert.deepEqual(vec.values.shape, [1, 5]);
    assert.deepEqual(Array.from(decodeTensor(vec.values)), [-2, -1, 0, 1, 2]);
  });

  test("a 3-D tensor comes back as its last two axes at the given leading index (0 by default)", async () => {
    const first = viewOf(await client.variableView("cube"));
    assert.deepEqual(first.slice, [0]);
    assert.deepEqual(first.values.shape, [3, 4]);
    assert.deepEqual(Array.from(decodeTensor(first.values)), Array.from({ length: 12 }, (_, i) => i - 5));
    const second = viewOf(await client.variableView("cube", [1]));
    assert.deepEqual(second.slice, [1]);
    assert.deepEqual(Array.from(decodeTensor(second.values)), Array.from({ length: 12 }, (_, i) => i + 12 - 5));
    assert.match(second.title, /cube: Tensor \[a, b, c\] 2x3x4 at a 1/);
  });

  test("a cache entry is viewable by path, and its slice equals the tensor's own values", async () => {
    for (const path of ['cache["blocks.3.attn.hook_pattern"]', "cache.get('blocks.3.attn.hook_pattern')", 'run.cache["blocks.3.attn.hook_pattern"]']) {
      const view = viewOf(await client.variableView(path, [2]));
      assert.deepEqual(view.shape, truth.pattern, path);
      assert.deepEqual(view.values.shape, truth.pattern.slice(1), path);
      assert.deepEqual(Array.from(decodeTensor(view.values)), truth.head2, `${path}: head 2's pattern`);
    }
    assert.deepEqual(Array.from(decodeTensor(viewOf(await client.variableView('byName["g"]')).values)), [1, 2, 3, 4, 5, 6], "a Map's tensor by key");
    const resid = viewOf(await client.variableView('cache["blocks.0.hook_resid_post"]'));
    assert.deepEqual(resid.values.shape, truth.resid);
  });

  test("a tensor over the cap keeps its first rows and columns and says so", async () => {
    const view = viewOf(await client.variableView("big"));
    const rows = Math.min(TENSOR_VIEW_AXIS_CAP, Math.floor(VIEW_VALUE_CAP / 600));
    assert.deepEqual(view.values.shape, [rows, 600]);
    const data = decodeTensor(view.values);
    assert.equal(data[rows * 600 - 1], (rows * 600 - 1) % 997, "row-major values of the first rows");
    assert.match(view.reduced ?? "", new RegExp(`first ${rows} of 3000 r rows`));
  });

  test("a wrong name, a non-tensor, a cache itself and a bad slice get errors naming the problem and what is viewable", async () => {
    const unknown = errorOf(await client.variableView("nope"));
    assert.match(unknown, /No variable "nope" in the kernel\. Viewable: .*logits/);
    assert.match(errorOf(await client.variableView("words")), /^words is string, not a Tensor\. Viewable: /);
    assert.match(errorOf(await client.variableView("cache")), /cache is an ActivationCache: view one of its entries, e\.g\. cache\["blocks\.0\.hook_resid_post"\]/);
    assert.match(errorOf(await client.variableView('cache["blocks.9.hook_x"]')), /cache has no entry "blocks\.9\.hook_x"; it has 2 entries/);
    assert.match(errorOf(await client.variableView("cube", [2])), /slice index 2 is out of range for a \(size 2\) of cube: use 0 to 1/);
    assert.match(errorOf(await client.variableView("cube", [0, 0])), /cube has 1 leading axes to slice/);
    assert.match(errorOf(await client.variableView("steer")), /No variable "steer"/, "the kernel's own globals are not variables");
    assert.match(errorOf(await client.variableView("grid[")), /cannot read "\[" in "grid\["/);
  });
});
