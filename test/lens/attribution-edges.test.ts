// steer.attribute.edges (EAP, EAP-IG, relevance patching) and circuit discovery from them on the planted
// model, whose indirect-object circuit is known (docs/toy-circuits.md), with the ABC corruption.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { load, type Model } from "../../src/engine/index";
import { attribute, circuit, metrics } from "../../src/lens/index";
import { bundled, ioi, skipStories, stories, truthHeads } from "./helpers";

let toy: Model;
before(async () => {
  toy = await load(bundled, { threads: 1 });
});
after(() => toy?.dispose());

const abc = "When Mary and John went to the store, Anna gave a drink to";
const options = () => ({ clean: ioi.clean, corrupt: abc, metric: metrics.logitDiff(" Mary", " John") });
const { duplicate, inhibition, nameMover } = truthHeads;
const planted = [`input->${duplicate}<q>`, `${duplicate}->${inhibition}<k>`, `input->${inhibition}<v>`, `${inhibition}->${nameMover}<q>`, `${nameMover}->logits`];

test("EAP and EAP-IG rank the planted circuit's edges on top; relevance sees only the value and logit paths", async () => {
  const found: Record<string, number> = {};
  for (const method of ["eap", "eap-ig", "relevance"] as const) {
    const e = await attribute.edges(toy, { ...options(), method });
    assert.equal(e.edges.length, 479, "every edge of EAP-IG's graph of a 4 x 4 model");
    const ranked = e.top(e.edges.length).map((x) => x.name);
    found[method] = ranked.slice(0, 10).filter((x) => planted.includes(x)).length;
    console.log(`# ${method}: ${found[method]} of the top 10 edges are planted; ranks ${planted.map((p) => `${p} #${ranked.indexOf(p) + 1} (${e.get(p).toFixed(3)})`).join(", ")}`);
  }
  assert.equal(found["eap-ig"], 5, "EAP-IG: all five planted edges in the top 10");
  assert.ok(found.eap >= 4, `EAP: expected at least 4 planted edges in the top 10 (the duplicate head's query from the input is missed at first order), got ${found.eap}`);
  const rel = await attribute.edges(toy, { ...options(), method: "relevance" });
  assert.equal(rel.top(1)[0].name, `${nameMover}->logits`);
  // The relevance rules hold the attention pattern constant: nothing flows into a query or a key.
  const qk = rel.edges.filter((x) => x.input === "q" || x.input === "k");
  assert.ok(qk.every((x) => x.score === 0), `q and k edges under relevance: ${JSON.stringify(qk.filter((x) => x.score !== 0).slice(0, 3))}`);
  assert.throws(() => rel.get("a3.h2->a1.h0<q>"), /No edge "a3.h2->a1.h0<q>" in the model's graph/);
});

test("the EAP edges into the logits add up to the attribution estimate of the last residual stream", async () => {
  for (const method of ["eap", "eap-ig", "relevance"] as const) {
    const e = await attribute.edges(toy, { ...options(), method });
    const intoLogits = e.edges.filter((x) => x.to === "logits").reduce((s, x) => s + x.score, 0);
    const resid = await attribute.residual(toy, { ...options(), at: "resid_post", method: method === "eap" ? "gradient" : method });
    const [L, P] = resid.values.shape;
    let total = 0;
    for (let p = 0; p < P; p++) total += resid.get(L - 1, p);
    console.log(`# ${method}: edges into the logits ${intoLogits.toFixed(5)}, last resid_post estimate ${total.toFixed(5)}`);
    assert.ok(Math.abs(intoLogits - total) <= 1e-3 * Math.abs(total), `${method}: edges into the logits sum to ${intoLogits}, the residual estimate is ${total}`);
  }
});

test("toCircuit keeps the top edges on input -> logits paths and scores nodes by their edges; the JSON carries every edge's score", async () => {
  const e = await attribute.edges(toy, { ...options(), method: "eap-ig" });
  const c = e.toCircuit({ topN: 10 });
  const inGraph = c.edges.filter((x) => x.inGraph);
  const names = inGraph.map((x) => `${x.from}->${x.to}${x.input ? `<${x.input}>` : ""}`);
  for (const p of planted) assert.ok(names.includes(p), `${p} in the circuit: ${names.join(", ")}`);
  assert.ok(inGraph.length <= 10, `at most 10 edges: ${names.join(", ")}`);
  const nodes = c.nodes.filter((n) => n.inGraph);
  assert.deepEqual(nodes.map((n) => n.id).sort(), ["input", "logits", duplicate, inhibition, nameMover].sort());
  const touching = (id: string) => inGraph.filter((x) => x.from === id || x.to === id).reduce((s, x) => s + Math.abs(x.score), 0);
  for (const n of nodes) assert.ok(Math.abs(n.score - touching(n.id)) < 1e-9, `node ${n.id}: score ${n.score}, sum of |score| of its edges ${touching(n.id)}`);
  const json = JSON.parse((await c.export("json")) as string);
  assert.equal(Object.keys(json.edges).length, 479, "every edge is written, in the graph or not");
  assert.ok(Math.abs(json.edges[`${duplicate}->${inhibition}<k>`].score - e.get(`${duplicate}->${inhibition}<k>`)) < 1e-9);
  assert.equal(json.edges["input->a0.h0<q>"].in_graph, false);
  // A threshold keeps what reaches it, on a path.
  const strong = e.toCircuit({ threshold: 1 });
  assert.ok(strong.edges.filter((x) => x.inGraph).every((x) => Math.abs(x.score) >= 1));
  assert.throws(() => e.toCircuit({ topN: 0 }), /topN should be a whole number >= 1/);
  assert.throws(() => e.toCircuit({ topN: 3, threshold: 1 } as never), /exactly one of \{ topN: number \} or \{ threshold: number \}/);
  assert.throws(() => e.toCircuit({ threshold: -1 }), /threshold should be a finite number >= 0/);
  // The result itself shows as a circuit of its strongest edges, and as a table.
  assert.equal(e.payload().edges.length, 479);
  assert.match(e.markdown(), /\| a2\.h1 \| a3\.h2 \| q \|/);
  assert.match(e.summary(), /^479 edge scores, top /);
});

test("discovery by EAP-IG returns the planted circuit, with node-level faithfulness", async () => {
  const c = await circuit.discover(toy, { ...options(), method: "eap-ig", topN: 10 });
  const nodes = c.nodes.filter((n) => n.inGraph).map((n) => n.id).sort();
  assert.deepEqual(nodes, ["input", "logits", duplicate, inhibition, nameMover].sort());
  console.log(`# discover eap-ig topN 10: ${c.summary()}; ${c.method}`);
  assert.ok(c.faithfulness! >= 0.9, `faithfulness ${c.faithfulness}`);
  assert.match(c.method, /EAP-IG \(5 steps\), top 10 edges; faithfulness node-level \(resample\)/);
  const json = JSON.parse((await c.export("json")) as string);
  assert.ok(json.edges[`${inhibition}->${nameMover}<q>`].in_graph && json.edges[`${inhibition}->${nameMover}<q>`].score > 0.5, JSON.stringify(json.edges[`${inhibition}->${nameMover}<q>`]));
  await assert.rejects(circuit.discover(toy, { ...options(), topN: 10 }), /topN picks edges of a gradient method/);
  await assert.rejects(circuit.discover(toy, { ...options(), method: "eap", topK: 3 }), /topK, edgeThreshold and tau belong to method "patching"/);
  await assert.rejects(circuit.discover(toy, { ...options(), method: "acdc" as never }), /method must be one of "patching", "eap", "eap-ig", "relevance", got "acdc"/);
});

test("bad input is refused with the fix named", async () => {
  await assert.rejects(attribute.edges(toy, { ...options(), metric: (logits: Float32Array) => logits[0] }), /needs a metric it can differentiate/);
  await assert.rejects(attribute.edges(toy, { ...options(), corrupt: "When Mary and John went" }), /must tokenize to the same length/);
  await assert.rejects(attribute.edges(toy, { ...options(), method: "gradient" as never }), /method must be one of "eap", "eap-ig", "relevance"/);
  await assert.rejects(attribute.edges(toy, { ...options(), corrupt: ioi.clean }), /no difference for edges to carry/);
});

test("on stories260K (F32, grouped-query attention) the edges into the logits add up to the residual estimate to float precision, and a KV group shares its k and v edges", { skip: skipStories }, async () => {
  const m = await load(stories, { threads: 2 });
  try {
    const { nHeads, nKvHeads } = m.config;
    assert.ok(nKvHeads < nHeads, `stories260K has grouped-query attention (${nHeads} heads, ${nKvHeads} KV heads)`);
    const group = nHeads / nKvHeads;
    const clean = m.tokenize("Once upon a time, there was a little girl named Lily. She loved to play with her ball. One day, Lily");
    const lily = clean[14];
    const ben = m.tokenize(" Ben", { bos: false })[0];
    const corrupt = clean.map((t, i) => (i > 0 && t === lily ? ben : t));
    const opts = { clean, corrupt, metric: metrics.logitDiff(lily, ben) };
    for (const method of ["eap", "eap-ig", "relevance"] as const) {
      const e = await attribute.edges(m, { ...opts, method });
      const intoLogits = e.edges.filter((x) => x.to === "logits").reduce((s, x) => s + x.score, 0);
      const resid = await attribute.residual(m, { ...opts, at: "resid_post", method: method === "eap" ? "gradient" : method });
      const [L, P] = resid.values.shape;
      let total = 0;
      for (let p = 0; p < P; p++) total += resid.get(L - 1, p);
      console.log(`# stories260K ${method}: ${e.edges.length} edges, into the logits ${intoLogits.toFixed(6)}, last resid_post ${total.toFixed(6)}; top ${e.top(3).map((x) => `${x.name} ${x.score.toFixed(3)}`).join(", ")}`);
      assert.ok(Math.abs(intoLogits - total) <= 1e-5 * Math.abs(total), `${method}: edges into the logits sum to ${intoLogits}, the residual estimate is ${total}`);
      for (const input of ["k", "v"]) {
        const a = e.get(`input->a1.h0<${input}>`);
        const b = e.get(`input->a1.h${group - 1}<${input}>`);
        const c = e.get(`input->a1.h${group}<${input}>`);
        assert.equal(a, b, `${method}: heads 0 and ${group - 1} share a KV head, so their ${input} edges are one: ${a} vs ${b}`);
        if (method !== "relevance" || input === "v") assert.notEqual(a, c, `${method}: head ${group} reads another KV head's ${input}: ${a} vs ${c}`);
      }
    }
  } finally {
    m.dispose();
  }
});
