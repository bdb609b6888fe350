// Circuit discovery and path patching on the planted model: the indirect-object circuit is known.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { load, type Model } from "../../src/engine/index";
import { circuit, metrics, patch } from "../../src/lens/index";
import { bundled, ioi, truthHeads } from "./helpers";

let toy: Model;
before(async () => {
  toy = await load(bundled, { threads: 1 });
});
after(() => toy?.dispose());

// The ABC corruption: the repeated name becomes a third one, so nothing is a duplicate.
const abc = "When Mary and John went to the store, Anna gave a drink to";
const metric = () => metrics.logitDiff(" Mary", " John");

test("discovery returns exactly the planted indirect-object circuit, with faithfulness of at least 0.9", async () => {
  const c = await circuit.discover(toy, { clean: ioi.clean, corrupt: abc, metric: metric() });
  const nodes = c.nodes.filter((n) => n.inGraph).map((n) => n.id).sort();
  assert.deepEqual(nodes, ["input", "logits", truthHeads.duplicate, truthHeads.inhibition, truthHeads.nameMover].sort());
  const edges = c.edges.filter((e) => e.inGraph).map((e) => `${e.from}->${e.to}${e.input ? `<${e.input}>` : ""}`).sort();
  assert.deepEqual(edges, [
    `${truthHeads.duplicate}->${truthHeads.inhibition}<k>`,
    `${truthHeads.inhibition}->${truthHeads.nameMover}<q>`,
    `${truthHeads.nameMover}->logits`,
    `input->${truthHeads.duplicate}<q>`,
    `input->${truthHeads.inhibition}<v>`,
  ].sort());
  assert.ok(c.faithfulness! >= 0.9, `faithfulness ${c.faithfulness}`);
  const json = JSON.parse((await c.export("json")) as string);
  assert.ok(json.edges[`${truthHeads.inhibition}->${truthHeads.nameMover}<q>`].in_graph, "EAP-IG names the edge");
});

test("topK picks the candidates by importance; a missing corrupt prompt is refused", async () => {
  const c = await circuit.discover(toy, { clean: ioi.clean, corrupt: abc, metric: metric(), topK: 2 });
  const inGraph = c.nodes.filter((n) => n.inGraph && n.id.startsWith("a")).map((n) => n.id);
  assert.ok(inGraph.length <= 2, `at most 2 heads: ${inGraph}`);
  await assert.rejects(circuit.discover(toy, { clean: ioi.clean, metric: metric() }), /needs clean and corrupt/);
});

test("path patching: the S-inhibition head reaches the name mover through its query, and only the name mover reaches the logits directly", async () => {
  const q = await patch.path(toy, { clean: ioi.clean, corrupt: abc, metric: metric(), receivers: [`${truthHeads.nameMover}<q>`] });
  assert.equal(q.top(1)[0].name, truthHeads.inhibition, JSON.stringify(q.top(3)));
  assert.ok(q.top(2)[1].value < 0.05, `no other head matters: ${JSON.stringify(q.top(3))}`);
  assert.ok(Number.isNaN(q.get(3, 0)), "heads of the receiver's layer cannot reach it");
  const direct = await patch.path(toy, { clean: ioi.clean, corrupt: abc, metric: metric() });
  assert.equal(direct.top(1)[0].name, truthHeads.nameMover, JSON.stringify(direct.top(3)));
  await assert.rejects(patch.path(toy, { clean: ioi.clean, corrupt: abc, metric: metric(), receivers: ["a9.h0<q>"] }), /layer 9 is out of range/);
  await assert.rejects(patch.path(toy, { clean: ioi.clean, corrupt: abc, metric: metric(), receivers: ["a1.h0<x>"] }), /receiver must be/);
});
