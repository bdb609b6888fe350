/**
 * The circuit view's geometry and pruning as pure functions (no browser): rows from input through each
 * layer's heads and MLP to the logits, q/k/v entering a head at different points, the path rule of the
 * threshold, and the errors a malformed payload gets.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkCircuit, layoutCircuit, shownAt, withShown } from "../../renderers/circuit/layout";
import type { CircuitView } from "../../src/protocol/views";
import { largeCircuit, toyIoiCircuit } from "./fixtures/circuits";

/** input -> a0.h0 (q 0.9, k 0.2) -> m0 (0.8) -> logits (0.7); a0.h1 -> logits (0.95) has no strong input. */
function small(parallelAttnMlp = false): CircuitView {
  const node = (id: string, kind: "input" | "head" | "mlp" | "logits", layer: number | null, head?: number) => ({ id, kind, layer, ...(head === undefined ? {} : { head }), score: 0, inGraph: false });
  return {
    title: "small",
    method: "test",
    cfg: { nLayers: 1, nHeads: 2, dModel: 8, parallelAttnMlp },
    nodes: [node("input", "input", null), node("a0.h0", "head", 0, 0), node("a0.h1", "head", 0, 1), node("m0", "mlp", 0), node("logits", "logits", null)],
    edges: [
      { from: "input", to: "a0.h0", input: "q", score: 0.9, inGraph: true },
      { from: "input", to: "a0.h0", input: "k", score: 0.2, inGraph: false },
      { from: "a0.h0", to: "m0", score: -0.8, inGraph: true },
      { from: "m0", to: "logits", score: 0.7, inGraph: true },
      { from: "a0.h1", to: "logits", score: 0.95, inGraph: false },
      { from: "input", to: "a0.h1", input: "v", score: 0.1, inGraph: false },
    ],
  };
}

test("rows run input, heads, MLP, logits; a parallel block puts heads and MLP in one row", () => {
  const y = (c: CircuitView, id: string) => layoutCircuit(c).nodes.get(id)!.y;
  const c = small();
  const ys = ["input", "a0.h0", "m0", "logits"].map((id) => y(c, id));
  assert.deepEqual([...ys].sort((a, b) => a - b), ys, `rows top to bottom, got y ${ys.join(", ")}`);
  assert.equal(y(c, "a0.h0"), y(c, "a0.h1"), "heads of a layer share a row");
  const p = small(true);
  assert.equal(y(p, "a0.h0"), y(p, "m0"), "parallel attention and MLP share a row");
  assert.ok(y(p, "m0") < y(p, "logits"));
  const l = layoutCircuit(c);
  assert.ok(l.nodes.get("a0.h0")!.x < l.nodes.get("a0.h1")!.x, "heads left to right by index");
});

test("q, k and v edges end at different points of the head", () => {
  const l = layoutCircuit(small());
  const endX = (i: number) => Number(/ ([\d.]+),[\d.]+$/.exec(l.edges.find((e) => e.index === i)!.d)![1]);
  const head = l.nodes.get("a0.h0")!;
  assert.ok(endX(0) < endX(1), `q (${endX(0)}) left of k (${endX(1)})`);
  assert.ok(endX(0) > head.x && endX(1) < head.x + 56, "both inside the head's box");
});

test("an edge shows when |score| >= threshold and it lies on an input -> logits path of such edges", () => {
  const c = small();
  const keys = (t: number) => [...shownAt(c, t).edges].sort();
  assert.deepEqual(keys(0), [0, 1, 2, 3, 4, 5], "at 0 every edge is on a path");
  assert.deepEqual(keys(0.15), [0, 1, 2, 3], "a0.h1's only input (0.1) is gone, so a0.h1 -> logits (0.95) goes too");
  assert.deepEqual(keys(0.5), [0, 2, 3], "|-0.8| passes: the threshold is on magnitude");
  assert.deepEqual(keys(0.85), [], "input -> a0.h0 (0.9) passes alone but reaches no logits");
  assert.deepEqual([...shownAt(c, 0.85).nodes].sort(), ["input", "logits"]);
  const exported = withShown(c, shownAt(c, 0.5));
  assert.deepEqual(exported.edges.map((e) => e.inGraph), [true, false, true, true, false, false]);
  assert.deepEqual(exported.nodes.filter((n) => n.inGraph).map((n) => n.id), ["input", "a0.h0", "m0", "logits"]);
  assert.equal(c.edges[1].inGraph, false, "the payload itself is not changed");
});

test("the first threshold shows the producer's in-graph edges; slider steps are the distinct |scores|", () => {
  const l = layoutCircuit(small());
  assert.equal(l.initialThreshold, 0.7, "the weakest in-graph edge");
  assert.deepEqual(l.steps, [0.1, 0.2, 0.7, 0.8, 0.9, 0.95]);
  assert.deepEqual(l.edges.map((e) => e.abs), [0.1, 0.2, 0.7, 0.8, 0.9, 0.95], "drawn weakest first");
  const toy = toyIoiCircuit();
  const shown = shownAt(toy, layoutCircuit(toy).initialThreshold);
  assert.equal(shown.edges.size, 14, `toy IOI: 15 planted edges, m3 -> logits unreachable, got ${shown.edges.size}`);
});

test("a 500-node, 2,000-edge circuit lays out with every node placed apart", () => {
  const c = largeCircuit();
  const l = layoutCircuit(c);
  assert.equal(l.nodes.size, 500);
  assert.equal(l.edges.length, 2000);
  const spots = new Set([...l.nodes.values()].map((n) => `${n.x},${n.y}`));
  assert.equal(spots.size, 500, "no two nodes at the same place");
  assert.equal(shownAt(c, 0).edges.size, 2000, "the fixture puts every edge on an input -> logits path");
});

test("a payload that cannot be drawn gets an error naming the problem", () => {
  const cases: [string, (c: CircuitView) => void, RegExp][] = [
    ["unknown endpoint", (c) => c.edges.push({ from: "a7.h0", to: "logits", score: 1, inGraph: false }), /edge 6 \(a7\.h0 -> logits\) names "a7\.h0", which is not among the circuit's nodes/],
    ["duplicate id", (c) => c.nodes.push({ ...c.nodes[1] }), /node id "a0\.h0" appears twice/],
    ["no logits", (c) => (c.nodes = c.nodes.filter((n) => n.kind !== "logits")), /has no logits node/],
    ["NaN score", (c) => (c.edges[2].score = NaN), /edge 2 \(a0\.h0 -> m0\) has score NaN; scores must be finite/],
    ["head without layer", (c) => (c.nodes[1].layer = null), /node "a0\.h0" is a head but its layer is null/],
  ];
  for (const [name, spoil, message] of cases) {
    const c = small();
    spoil(c);
    assert.throws(() => checkCircuit(c), message, name);
  }
  assert.throws(() => checkCircuit({ title: "x" } as unknown as CircuitView), /expected a payload with `nodes` and `edges` arrays/);
});
