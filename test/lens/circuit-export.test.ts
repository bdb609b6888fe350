// The Circuit value and its exports, on hand-made circuits and on the full graph of a 4x4 model:
// DOT laid out by the same Graphviz (WebAssembly) the SVG uses, SVG parsed as strict XML, PNG decoded
// here (chunk CRCs, inflate, unfilter), JSON compared with Python's json module and read back,
// Mermaid checked line by line; validation, pruning (against EAP-IG's iterative pruning) and top(k).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { crc32, inflateSync } from "node:zlib";
import { instance } from "@viz-js/viz";
import { VIEW_MIMES, type CircuitView } from "../../src/protocol";
import { Circuit, circuitEdges, circuitNodes, type CircuitInit } from "../../src/lens/circuit";
import { edgeName } from "../../src/lens/circuit-export";

const cfg4 = { nLayers: 4, nHeads: 4, dModel: 16 };

/** Nine nodes, ten edges: q, k and v inputs, a negative edge, MLPs, and a dangling branch (m0 -> a3.h0). */
const small: CircuitInit = {
  cfg: cfg4,
  title: "hand-made",
  method: "manual",
  faithfulness: 0.97,
  metric: { name: 'logit(" Mary") - logit(" John")', clean: 3.5, corrupt: -1.25, normalized: true },
  nodes: [
    { id: "input", score: 0 },
    { id: "a0.h0", score: 0.9 },
    { id: "a0.h1", score: 0.7 },
    { id: "m0", score: 0.05 },
    { id: "a1.h2", score: -0.4 },
    { id: "m1", score: 0.3 },
    { id: "a2.h3", score: 1.2 },
    { id: "a3.h0", score: 0.02 },
    { id: "logits", score: 0 },
  ],
  edges: [
    { from: "input", to: "a0.h0", input: "v", score: 0.5 },
    { from: "input", to: "a0.h1", input: "q", score: 0.4 },
    { from: "a0.h0", to: "a1.h2", input: "k", score: -0.8 },
    { from: "a0.h1", to: "a2.h3", input: "q", score: 0.6 },
    { from: "a1.h2", to: "m1", score: 0.3 },
    { from: "m1", to: "a2.h3", input: "v", score: 0.9 },
    { from: "a2.h3", to: "logits", score: 1.1 },
    { from: "m1", to: "logits", score: 0.2 },
    { from: "input", to: "m0", score: 0.05 },
    { from: "m0", to: "a3.h0", input: "k", score: 0.04 },
  ],
};

/** Deterministic scores in [-1, 1). */
function scores(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
}

/** Every node and edge of a 4x4 model, all in the graph. */
function full(cfg: CircuitInit["cfg"]): CircuitInit {
  const r = scores(7);
  return { cfg, method: "full graph", nodes: circuitNodes(cfg).map((id) => ({ id, score: r() })), edges: circuitEdges(cfg).map((e) => ({ ...e, score: r() })) };
}

/** Parallel attention and MLP (GPT-J style): a layer's MLP shares its heads' row and does not read them. */
const parallel: CircuitInit = {
  cfg: { nLayers: 2, nHeads: 2, dModel: 8, parallelAttnMlp: true },
  nodes: ["input", "a0.h0", "m0", "a1.h1", "m1", "logits"].map((id, i) => ({ id, score: i / 10 })),
  edges: [
    { from: "input", to: "a0.h0", input: "q", score: 0.7 },
    { from: "input", to: "m0", score: 0.3 },
    { from: "a0.h0", to: "m1", score: 0.5 },
    { from: "m0", to: "a1.h1", input: "v", score: -0.6 },
    { from: "a1.h1", to: "logits", score: 0.8 },
    { from: "m1", to: "logits", score: 0.4 },
  ],
};

const cases: { name: string; init: CircuitInit }[] = [
  { name: "hand-made 4x4 circuit", init: small },
  { name: "every layer and head of a 4x4 model", init: full(cfg4) },
  { name: "parallel attention and MLP", init: parallel },
];

const drawnNodes = (v: CircuitView) => v.nodes.filter((n) => n.inGraph);
const drawnEdges = (v: CircuitView) => v.edges.filter((e) => e.inGraph);

/** The row a node is drawn in, top to bottom. */
function row(id: string, parallelBlocks: boolean): number {
  if (id === "input") return 0;
  if (id === "logits") return 1e6;
  const head = /^a(\d+)\./.exec(id);
  if (head) return 1 + 2 * Number(head[1]);
  return 2 + 2 * Number(id.slice(1)) - (parallelBlocks ? 1 : 0);
}

const vizReady = instance();

for (const { name, init } of cases) {
  test(`DOT (${name}): Graphviz lays it out without error, one row per layer, edges coloured, dashed and labelled by input`, async () => {
    const c = new Circuit(init);
    const v = c.payload();
    const dot = await c.export("dot");
    const result = (await vizReady).render(dot, { format: "json" });
    assert.equal(result.status, "success", `Graphviz errors: ${JSON.stringify(result.errors)}`);
    assert.deepEqual(result.errors.filter((e) => e.level === "error"), []);
    const layout = JSON.parse(result.output!) as { objects: { _gvid: number; name: string; pos?: string }[]; edges: { tail: number; head: number; [k: string]: unknown }[] };
    const placed = layout.objects.filter((o) => o.pos !== undefined);
    assert.deepEqual(placed.map((o) => o.name).sort(), drawnNodes(v).map((n) => n.id).sort(), "every node in the graph is laid out, and only those");

    // Rows: Graphviz's y grows upwards, so a later row has a smaller y; a row shares one y.
    const y = new Map(placed.map((o) => [o.name, Number(o.pos!.split(",")[1])]));
    const byRow = new Map<number, number[]>();
    for (const n of drawnNodes(v)) byRow.set(row(n.id, v.cfg.parallelAttnMlp), [...(byRow.get(row(n.id, v.cfg.parallelAttnMlp)) ?? []), y.get(n.id)!]);
    const rows = [...byRow.entries()].sort((a, b) => a[0] - b[0]);
    for (const [r, ys] of rows) assert.equal(new Set(ys).size, 1, `row ${r} has one y, got ${ys}`);
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i][1][0] < rows[i - 1][1][0], `row ${rows[i][0]} (y ${rows[i][1][0]}) is below row ${rows[i - 1][0]} (y ${rows[i - 1][1][0]})`);

    const nameOf = new Map(layout.objects.map((o) => [o._gvid, o.name]));
    const visible = layout.edges.filter((e) => e.style !== "invis");
    assert.equal(visible.length, drawnEdges(v).length, "one drawn edge per edge in the graph");
    // q/k/v are labels on small circuits and xlabels (placed after the layout) past 100 edges.
    const input = (e: Record<string, unknown>) => (drawnEdges(v).length <= 100 ? e.label : e.xlabel);
    const attrs = new Map(visible.map((e) => [`${nameOf.get(e.tail)}->${nameOf.get(e.head)}${input(e) ? `<${input(e)}>` : ""}`, e]));
    const maxAbs = Math.max(...drawnEdges(v).map((e) => Math.abs(e.score)));
    for (const e of drawnEdges(v)) {
      const a = attrs.get(edgeName(e));
      assert.ok(a, `edge ${edgeName(e)} is drawn (with its input as label)`);
      assert.equal(a.color, e.score < 0 ? "#b2182b" : "#2166ac", `${edgeName(e)} colour by sign`);
      assert.equal(a.style, e.input ? { q: "dashed", k: "dotted", v: "solid" }[e.input] : undefined, `${edgeName(e)} style`);
      const expected = 0.6 + (4.4 * Math.abs(e.score)) / maxAbs;
      assert.ok(Math.abs(Number(a.penwidth) - expected) < 0.006, `${edgeName(e)} penwidth: expected ${expected}, got ${a.penwidth}`);
    }
  });

  test(`SVG (${name}): well-formed XML with every node's label and one group per node and edge`, async () => {
    const c = new Circuit(init);
    const v = c.payload();
    const svg = await c.export("svg");
    const xml = readXml(svg);
    assert.equal(xml.root, "svg");
    const nodeTitles = xml.groups.filter((g) => g.cls === "node").map((g) => g.title).sort();
    assert.deepEqual(nodeTitles, drawnNodes(v).map((n) => n.id).sort(), "one <g class=\"node\"> per node, titled by its name");
    assert.equal(xml.groups.filter((g) => g.cls === "edge").length, drawnEdges(v).length, "one <g class=\"edge\"> per edge");
    for (const n of drawnNodes(v)) assert.ok(xml.texts.includes(n.id), `the SVG shows the label ${n.id}`);
  });

  test(`PNG (${name}): decodes to an image of the SVG's size, twice over (at most 8192 px a side), showing the edges' colours`, async () => {
    const c = new Circuit(init);
    const [svg, png] = await Promise.all([c.export("svg"), c.export("png")]);
    const img = decodePng(png);
    // Graphviz sizes in points, 4/3 pixels each.
    const [, w, h] = /viewBox="[\d.]+ [\d.]+ ([\d.]+) ([\d.]+)"/.exec(svg)!.map((x) => (Number(x) * 4) / 3);
    const zoom = Math.min(2, 8192 / Math.max(w, h));
    assert.ok(Math.abs(img.width - w * zoom) <= 2 && Math.abs(img.height - h * zoom) <= 2, `expected about ${w * zoom}x${h * zoom} px, got ${img.width}x${img.height}`);
    const count = (rgb: number[]) => {
      let n = 0;
      for (let i = 0; i < img.rgba.length; i += 4) if (img.rgba[i] === rgb[0] && img.rgba[i + 1] === rgb[1] && img.rgba[i + 2] === rgb[2]) n++;
      return n;
    };
    const edges = drawnEdges(c.payload());
    const strongest = edges.reduce((a, b) => (Math.abs(b.score) > Math.abs(a.score) ? b : a));
    const colour = strongest.score < 0 ? [0xb2, 0x18, 0x2b] : [0x21, 0x66, 0xac];
    assert.ok(count(colour) > 50, `the strongest edge's colour ${colour} fills more than 50 pixels, got ${count(colour)}`);
    assert.ok(count([255, 255, 255]) < img.width * img.height, "not a blank image");
  });

  test(`JSON (${name}): EAP-IG's Graph.to_json format, byte for byte as Python writes it, read back whole`, async () => {
    const c = new Circuit(init);
    const text = await c.export("json");
    const d = JSON.parse(text);
    assert.deepEqual(Object.keys(d.cfg), ["n_layers", "n_heads", "parallel_attn_mlp", "d_model"]);
    assert.deepEqual(d.cfg, { n_layers: init.cfg.nLayers, n_heads: init.cfg.nHeads, parallel_attn_mlp: init.cfg.parallelAttnMlp ?? false, d_model: init.cfg.dModel });
    assert.deepEqual(Object.keys(d.nodes), c.nodes.map((n) => n.id));
    for (const n of c.nodes) assert.deepEqual(d.nodes[n.id], { in_graph: n.inGraph, score: n.score });
    const eapNames = new Set(circuitEdges(init.cfg).map(edgeName));
    for (const e of c.edges) {
      assert.ok(eapNames.has(edgeName(e)), `${edgeName(e)} is an edge of EAP-IG's graph`);
      assert.deepEqual(d.edges[edgeName(e)], { score: e.score, in_graph: e.inGraph });
    }
    assert.equal(Object.keys(d.edges).length, c.edges.length);
    const back = Circuit.fromJSON(text);
    assert.deepEqual(back.payload(), c.payload(), "Circuit.fromJSON(export) is the same circuit");
    assert.deepEqual(Circuit.fromJSON(JSON.stringify(c)).payload(), c.payload(), "a circuit's own JSON reads back too");
    const py = python(["-c", "import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read())))"], text);
    if (py !== undefined) assert.equal(py, text, "Python's json.dumps(json.loads(text)) writes the same text");
  });

  test(`Mermaid (${name}): a flowchart TB with every node and edge, q/k/v labels, ids escaped`, async () => {
    const c = new Circuit(init);
    const v = c.payload();
    const lines = (await c.export("mermaid")).split("\n");
    assert.ok(lines.includes("flowchart TB"), "a top-to-bottom flowchart");
    const defined = new Map<string, string>();
    for (const l of lines) {
      const m = /^ {2}(\w+)\["(.*)"\]:::(input|head|mlp|logits)$/.exec(l);
      if (m) defined.set(m[1], m[2]);
    }
    assert.deepEqual([...defined.keys()].sort(), drawnNodes(v).map((n) => n.id.replace(".", "_")).sort(), "one definition per node, dots escaped");
    for (const n of drawnNodes(v)) assert.ok(defined.get(n.id.replace(".", "_"))!.startsWith(`${n.id} `), `${n.id} labelled with its name`);
    const arrows = lines.flatMap((l) => {
      const m = /^ {2}(\w+) -->(?:\|([qkv])\|)? (\w+)$/.exec(l);
      return m ? [`${m[1]}->${m[3]}${m[2] ? `<${m[2]}>` : ""}`] : [];
    });
    assert.deepEqual(arrows, drawnEdges(v).map((e) => edgeName(e).replace(/\./g, "_")), "one arrow per edge, labelled with its input");
    assert.equal(lines.filter((l) => l.startsWith("  linkStyle ")).length, arrows.length, "one linkStyle per edge");
  });
}

test("EAP-IG's graph of a model: 479 edges for 4x4, its node order, and names such as a0.h1->a2.h3<q>", () => {
  // Graph.from_model: each layer's heads read q, k, v from everything before; the MLP reads everything
  // before it, its own layer's heads included unless blocks are parallel; the logits read everything.
  const count = (L: number, H: number, par: boolean) => {
    let n = 0;
    for (let l = 0; l < L; l++) n += par ? (3 * H + 1) * (1 + l * (H + 1)) : 3 * H * (1 + l * (H + 1)) + 1 + l * (H + 1) + H;
    return n + 1 + L * (H + 1);
  };
  for (const [L, H, par] of [[4, 4, false], [4, 4, true], [2, 3, false], [1, 1, true]] as const) {
    assert.equal(circuitEdges({ nLayers: L, nHeads: H, dModel: 8, parallelAttnMlp: par }).length, count(L, H, par), `${L}x${H} parallel ${par}`);
  }
  assert.equal(count(4, 4, false), 479);
  assert.deepEqual(circuitNodes({ nLayers: 2, nHeads: 2, dModel: 8 }), ["input", "a0.h0", "a0.h1", "m0", "a1.h0", "a1.h1", "m1", "logits"]);
  const names = circuitEdges(cfg4).map(edgeName);
  for (const n of ["a0.h1->a2.h3<q>", "input->a0.h0<v>", "m1->logits", "a1.h2->m1"]) assert.ok(names.includes(n), n);
  assert.ok(!names.includes("a1.h2->a1.h3<q>") && !names.includes("m1->a1.h0<q>"), "no edge into the same layer's heads");
  assert.equal(new Set(names).size, names.length, "names are unique");
});

test("a file as EAP-IG writes it (every node, NaN for unscored, Python separators) reads in", () => {
  const eap =
    '{"cfg": {"n_layers": 1, "n_heads": 2, "parallel_attn_mlp": false, "d_model": 8}, "nodes": {"input": {"in_graph": true, "score": NaN}, ' +
    '"a0.h0": {"in_graph": true, "score": 0.25}, "a0.h1": {"in_graph": false, "score": -1e-05}, "m0": {"in_graph": false, "score": NaN}, "logits": {"in_graph": true}}, ' +
    '"edges": {"input->a0.h0<q>": {"score": 0.5, "in_graph": true}, "input->a0.h0<k>": {"score": 0.0, "in_graph": false}, "a0.h0->logits": {"score": 1.5, "in_graph": true}, ' +
    '"a0.h1->m0": {"score": -0.125, "in_graph": false}, "m0->logits": {"score": 0.0, "in_graph": false}}}';
  const c = Circuit.fromJSON(eap);
  assert.deepEqual(c.cfg, { nLayers: 1, nHeads: 2, dModel: 8, parallelAttnMlp: false });
  assert.deepEqual(c.nodes.map((n) => [n.id, n.score, n.inGraph]), [["input", 0, true], ["a0.h0", 0.25, true], ["a0.h1", -1e-5, false], ["m0", 0, false], ["logits", 0, true]]);
  assert.deepEqual(c.top(5).map(edgeName), ["a0.h0->logits", "input->a0.h0<q>"]);
  assert.equal(c.summary(), "circuit 3 nodes, 2 edges");
  assert.equal(c.method, "loaded from EAP-IG JSON");
  // EAP-IG's older format: nodes {name: in_graph}.
  const old = Circuit.fromJSON('{"cfg": {"n_layers": 1, "n_heads": 1, "parallel_attn_mlp": false}, "nodes": {"input": true, "a0.h0": true, "logits": true}, "edges": {"input->a0.h0<v>": {"score": 2.0, "in_graph": true}, "a0.h0->logits": {"score": null, "in_graph": true}}}');
  assert.deepEqual(old.edges.map((e) => [edgeName(e), e.score]), [["input->a0.h0<v>", 2], ["a0.h0->logits", 0]]);
});

test("Python float formatting: exponents below 1e-4 and from 1e16, a point on whole numbers", async () => {
  const c = new Circuit({
    cfg: { nLayers: 1, nHeads: 1, dModel: 1 },
    nodes: [{ id: "input", score: 0.0001 }, { id: "a0.h0", score: 123 }, { id: "m0", score: 1e16 }, { id: "logits", score: 1234567890123456 }],
    edges: [
      { from: "input", to: "a0.h0", input: "q", score: 1e-5 },
      { from: "input", to: "m0", score: -0 },
      { from: "a0.h0", to: "m0", score: 0.1 + 0.2 },
      { from: "a0.h0", to: "logits", score: -2.5e-10 },
      { from: "m0", to: "logits", score: 1.5e-7 },
    ],
    title: "naïve — “quoted”",
  });
  const out = await c.export("json");
  const expected = [
    '"input": {"in_graph": true, "score": 0.0001}', '"a0.h0": {"in_graph": true, "score": 123.0}', '"m0": {"in_graph": true, "score": 1e+16}',
    '"logits": {"in_graph": true, "score": 1234567890123456.0}', '"input->a0.h0<q>": {"score": 1e-05, "in_graph": true}', '"input->m0": {"score": -0.0, "in_graph": true}',
    '"a0.h0->m0": {"score": 0.30000000000000004, "in_graph": true}', '"a0.h0->logits": {"score": -2.5e-10, "in_graph": true}', '"m0->logits": {"score": 1.5e-07, "in_graph": true}',
    '"title": "na\\u00efve \\u2014 \\u201cquoted\\u201d"', '"cfg": {"n_layers": 1, "n_heads": 1, "parallel_attn_mlp": false, "d_model": 1}',
  ];
  for (const s of expected) assert.ok(out.includes(s), `expected ${s} in ${out}`);
  const py = python(["-c", "import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read())))"], out);
  if (py !== undefined) assert.equal(py, out, "Python writes the same text");
});

const bad: { name: string; change: (i: CircuitInit) => CircuitInit; error: RegExp }[] = [
  { name: "an edge to an unknown node", change: (i) => ({ ...i, edges: [...i.edges, { from: "a0.h1", to: "a3.h3", input: "q", score: 1 }] }), error: /edge "a0\.h1->a3\.h3<q>" names node "a3\.h3", which is not among the circuit's nodes: add it/ },
  { name: "a misspelt node", change: (i) => ({ ...i, nodes: [...i.nodes, { id: "a0h1", score: 1 }] }), error: /node "a0h1" is not a component name: use "input", "a\{L\}\.h\{H\}"/ },
  { name: "a head outside the model", change: (i) => ({ ...i, nodes: [...i.nodes, { id: "a1.h4", score: 1 }] }), error: /node "a1\.h4" is outside the model: cfg has layers 0\.\.3 and heads 0\.\.3/ },
  { name: "a layer outside the model", change: (i) => ({ ...i, nodes: [...i.nodes, { id: "m4", score: 1 }] }), error: /node "m4" is outside the model/ },
  { name: "a node listed twice", change: (i) => ({ ...i, nodes: [...i.nodes, { id: "m1", score: 1 }] }), error: /node "m1" is listed twice/ },
  { name: "a kind that contradicts the name", change: (i) => ({ ...i, nodes: i.nodes.map((n) => (n.id === "m1" ? { ...n, kind: "head" as const } : n)) }), error: /node "m1" says kind "head", but its name means kind "mlp"/ },
  { name: "an edge into a head without q/k/v", change: (i) => ({ ...i, edges: [...i.edges, { from: "input", to: "a2.h3", score: 1 }] }), error: /edge "input->a2\.h3" goes into a head: say which input it feeds with input: "q", "k" or "v"/ },
  { name: "q/k/v on an edge into an MLP", change: (i) => ({ ...i, edges: [...i.edges, { from: "input", to: "m1", input: "q", score: 1 }] }), error: /edge "input->m1<q>" has input "q", but only edges into a head have one/ },
  { name: "an edge backwards", change: (i) => ({ ...i, edges: [...i.edges, { from: "m1", to: "a0.h1", input: "q", score: 1 }] }), error: /edge "m1->a0\.h1<q>" cannot exist: a0\.h1 does not read what m1 writes/ },
  { name: "an edge within a layer's heads", change: (i) => ({ ...i, edges: [...i.edges, { from: "a0.h0", to: "a0.h1", input: "k", score: 1 }] }), error: /edge "a0\.h0->a0\.h1<k>" cannot exist/ },
  { name: "an edge out of the logits", change: (i) => ({ ...i, edges: [...i.edges, { from: "logits", to: "m1", score: 1 }] }), error: /edge "logits->m1" cannot exist/ },
  { name: "an edge listed twice", change: (i) => ({ ...i, edges: [...i.edges, { from: "m1", to: "logits", score: 3 }] }), error: /edge "m1->logits" is listed twice/ },
  { name: "a NaN score", change: (i) => ({ ...i, edges: i.edges.map((e, k) => (k === 0 ? { ...e, score: NaN } : e)) }), error: /edge "input->a0\.h0<v>" needs a finite number as score, got NaN/ },
  { name: "a cfg without layers", change: (i) => ({ ...i, cfg: { nHeads: 4, dModel: 16 } as never }), error: /cfg should be \{ nLayers, nHeads: integers >= 1/ },
];

for (const b of bad) {
  test(`the constructor refuses ${b.name}, saying what to fix`, () => {
    assert.throws(() => new Circuit(b.change(small)), (err: Error) => {
      assert.equal(err.name, "BadArgumentError");
      assert.match(err.message, b.error);
      return true;
    });
  });
}

test("parallel blocks: a layer's MLP does not read its heads", () => {
  assert.throws(() => new Circuit({ ...parallel, edges: [...parallel.edges, { from: "a0.h0", to: "m0", score: 1 }] }), /edge "a0\.h0->m0" cannot exist/);
  assert.doesNotThrow(() => new Circuit({ ...small, edges: [...small.edges, { from: "a0.h1", to: "m0", score: 1 }] }), "sequential blocks: m0 reads a0.h1");
});

const badJson: { name: string; text: string; error: RegExp }[] = [
  { name: "text that is not JSON", text: '{"cfg": {"n_layers": 1,}', error: /not JSON \(line 1, column \d+: / },
  { name: "a cfg without n_heads", text: '{"cfg": {"n_layers": 1}, "nodes": {}, "edges": {}}', error: /cfg needs n_layers and n_heads as integers/ },
  { name: "a file without edges", text: '{"cfg": {"n_layers": 1, "n_heads": 1}, "nodes": {}}', error: /missing or not an object: edges/ },
  { name: "an edge named otherwise", text: '{"cfg": {"n_layers": 1, "n_heads": 1}, "nodes": {}, "edges": {"input=>m0": {"score": 1, "in_graph": true}}}', error: /edge "input=>m0" is not named as EAP-IG names edges/ },
  { name: "an infinite score", text: '{"cfg": {"n_layers": 1, "n_heads": 1}, "nodes": {}, "edges": {"input->m0": {"score": -Infinity, "in_graph": true}}}', error: /infinite score/ },
  { name: "an edge outside the model", text: '{"cfg": {"n_layers": 1, "n_heads": 1}, "nodes": {}, "edges": {"input->m3": {"score": 1, "in_graph": true}}}', error: /node "m3" is outside the model/ },
];

for (const b of badJson) {
  test(`Circuit.fromJSON refuses ${b.name}`, () => {
    assert.throws(() => Circuit.fromJSON(b.text), b.error);
  });
}

/** EAP-IG's prune(): drop nodes without incoming (input excepted) or outgoing (logits excepted) edges, then their edges, until nothing changes. */
function eapPrune(v: CircuitView, threshold: number): { nodes: string[]; edges: string[] } {
  let edges = v.edges.filter((e) => Math.abs(e.score) >= threshold);
  let nodes = v.nodes.map((n) => n.id);
  for (;;) {
    const hasIn = new Set(edges.map((e) => e.to));
    const hasOut = new Set(edges.map((e) => e.from));
    const keptNodes = nodes.filter((id) => (id === "input" || hasIn.has(id)) && (id === "logits" || hasOut.has(id)));
    const keptEdges = edges.filter((e) => keptNodes.includes(e.from) && keptNodes.includes(e.to));
    if (keptNodes.length === nodes.length && keptEdges.length === edges.length) return { nodes, edges: edges.map(edgeName) };
    nodes = keptNodes;
    edges = keptEdges;
  }
}

test("prune(threshold) keeps the strong edges on input-to-logits paths, as EAP-IG's iterative pruning does", async () => {
  const c = new Circuit(small);
  const expected: [number, string[], string][] = [
    [0, ["input->a0.h0<v>", "input->a0.h1<q>", "a0.h0->a1.h2<k>", "a0.h1->a2.h3<q>", "a1.h2->m1", "m1->a2.h3<v>", "a2.h3->logits", "m1->logits"], "circuit 7 nodes, 8 edges, faithfulness 0.97"],
    [0.35, ["input->a0.h1<q>", "a0.h1->a2.h3<q>", "a2.h3->logits"], "circuit 4 nodes, 3 edges, faithfulness 0.97"],
    [1.2, [], "circuit 0 nodes, 0 edges, faithfulness 0.97"],
  ];
  assert.equal(c.summary(), "circuit 9 nodes, 10 edges, faithfulness 0.97", "as given: every edge in the graph");
  for (const [t, edges, summary] of expected) {
    const p = c.prune(t);
    assert.deepEqual(p.edges.filter((e) => e.inGraph).map(edgeName), edges, `threshold ${t}`);
    assert.equal(p.summary(), summary);
    assert.equal(p.edges.length, c.edges.length, "pruning keeps every edge, flagged");
    assert.notEqual(p.id, c.id, "a new result");
  }
  for (const [label, init] of [["4x4 full graph", full(cfg4)], ["4x4 random tenth of the edges", { ...full(cfg4), edges: full(cfg4).edges.filter((_, i) => i % 10 === 3) }]] as const) {
    const whole = new Circuit(init);
    for (const t of [0, 0.5, 0.9, 0.97, 0.995]) {
      const ours = whole.prune(t);
      const ref = eapPrune(whole.payload(), t);
      assert.deepEqual(ours.edges.filter((e) => e.inGraph).map(edgeName), ref.edges, `${label}, threshold ${t}: edges`);
      assert.deepEqual(ours.nodes.filter((n) => n.inGraph).map((n) => n.id), ref.nodes.filter((id) => id !== "logits" || ref.edges.length > 0), `${label}, threshold ${t}: nodes`);
    }
  }
  assert.throws(() => c.prune(-1), /threshold should be a finite number >= 0/);
  const empty = c.prune(1.2);
  assert.equal(readXml(await empty.export("svg")).groups.length, 0, "an empty circuit draws as its title alone");
  assert.ok(decodePng(await empty.export("png")).width > 0);
});

test("top(k): the k in-graph edges with the largest |score|, largest first", () => {
  const c = new Circuit(small).prune(0);
  assert.deepEqual(c.top(3).map((e) => [edgeName(e), e.score]), [["a2.h3->logits", 1.1], ["m1->a2.h3<v>", 0.9], ["a0.h0->a1.h2<k>", -0.8]]);
  assert.equal(c.top(0).length, 0);
  assert.equal(c.top(100).length, 8, "only edges in the graph");
  assert.throws(() => c.top(1.5), /k should be a whole number >= 0, got 1\.5/);
});

test("node inGraph defaults to touching an in-graph edge; the view, markdown and summary say what is in the graph", () => {
  const c = new Circuit({ ...small, edges: small.edges.map((e) => (e.to === "a3.h0" ? { ...e, inGraph: false } : e)) });
  assert.deepEqual(c.nodes.filter((n) => !n.inGraph).map((n) => n.id), ["a3.h0"]);
  assert.deepEqual(c.nodes.map((n) => n.id), ["input", "a0.h0", "a0.h1", "m0", "a1.h2", "m1", "a2.h3", "a3.h0", "logits"], "EAP-IG's node order");
  assert.deepEqual(c.nodes.find((n) => n.id === "a1.h2"), { id: "a1.h2", kind: "head", layer: 1, head: 2, score: -0.4, inGraph: true });
  const out = c.toSteerOutput();
  assert.equal(out.items[0].mime, VIEW_MIMES.circuit);
  assert.deepEqual(out.metadata, { summary: "circuit 8 nodes, 9 edges, faithfulness 0.97" });
  const md = c.markdown();
  assert.match(md, /^\*\*hand-made\*\*: 8 of 9 nodes and 9 of 10 edges in the graph; faithfulness 0\.97; method manual; metric logit\(" Mary"\) - logit\(" John"\)\./);
  assert.match(md, /\| a2\.h3 \| 1\.2 \|/);
  assert.match(md, /\| a0\.h0 \| a1\.h2 \| k \| -0\.8 \|/);
  assert.match(md, /\| m1 \| logits \|  \| 0\.2 \|/);
  assert.ok(!md.includes("a3.h0"), "what is out of the graph is not listed");
  assert.ok(Object.isFrozen(c.nodes) && Object.isFrozen(c.nodes[0]) && Object.isFrozen(c.edges[0]), "the result's data is frozen");
});

const dir = mkdtempSync(path.join(tmpdir(), "steer-circuit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("save(path) picks the format by extension and refuses an unknown one", async () => {
  const c = new Circuit(small);
  const expected: [string, (b: Buffer) => boolean][] = [
    ["c.json", (b) => Circuit.fromJSON(b.toString("utf8")).summary() === c.summary()],
    ["c.dot", (b) => b.toString("utf8").startsWith("digraph circuit {")],
    ["c.gv", (b) => b.toString("utf8").startsWith("digraph circuit {")],
    ["c.mmd", (b) => b.toString("utf8").includes("\nflowchart TB\n")],
    ["c.svg", (b) => b.toString("utf8").startsWith("<?xml")],
    ["c.PNG", (b) => decodePng(b).width > 0],
  ];
  for (const [file, ok] of expected) {
    await c.save(path.join(dir, file));
    assert.ok(ok(readFileSync(path.join(dir, file))), `${file} holds its format`);
  }
  await assert.rejects(c.save(path.join(dir, "c.txt")), /Cannot tell how to save a circuit to ".*c\.txt": use one of the extensions \.json, \.dot, \.gv, \.mmd, \.mermaid, \.svg, \.png/);
  await assert.rejects(c.export("pdf" as never), /Unknown circuit format "pdf"/);
});

test("a 500-node, 2,000-edge circuit exports to SVG in seconds (prints the time) and to a PNG at most 8192 px a side", async () => {
  const big = { nLayers: 20, nHeads: 24, dModel: 64 };
  const r = scores(11);
  const all = circuitEdges(big);
  const picked = new Set<number>();
  while (picked.size < 2000) picked.add(Math.floor(((r() + 1) / 2) * all.length));
  const c = new Circuit({ cfg: big, nodes: circuitNodes(big).map((id) => ({ id, score: r() })), edges: [...picked].map((i) => ({ ...all[i], score: r() })) });
  assert.equal(c.nodes.length, 502);
  let t = performance.now();
  const svg = await c.export("svg");
  const svgMs = performance.now() - t;
  t = performance.now();
  const png = decodePng(await c.export("png"));
  const pngMs = performance.now() - t;
  console.log(`500-node, 2,000-edge circuit: SVG ${(svgMs / 1000).toFixed(1)} s (${(svg.length / 2 ** 20).toFixed(1)} MB), PNG ${(pngMs / 1000).toFixed(1)} s (${png.width}x${png.height})`);
  assert.equal(readXml(svg).groups.filter((g) => g.cls === "edge").length, 2000);
  assert.ok(Math.max(png.width, png.height) <= 8192, `PNG ${png.width}x${png.height}`);
});

// ---------------------------------------------------------------------------------------------
// Readers used above: strict XML through sax (installed with @vscode/vsce), PNG decoded with zlib.

interface SaxParser {
  onerror: (e: Error) => void;
  onopentag: (t: { name: string; attributes: Record<string, string> }) => void;
  onclosetag: (name: string) => void;
  ontext: (t: string) => void;
  write(s: string): SaxParser;
  close(): SaxParser;
}
const sax = createRequire(__filename)("sax") as { parser(strict: boolean): SaxParser };

/** Parses strictly (a malformed document throws); returns the root, <g class> groups with their <title>, and texts. */
function readXml(xml: string): { root: string; groups: { cls: string; title: string }[]; texts: string[] } {
  const p = sax.parser(true);
  const out = { root: "", groups: [] as { cls: string; title: string }[], texts: [] as string[] };
  const stack: string[] = [];
  p.onerror = (e) => {
    throw e;
  };
  p.onopentag = (t) => {
    if (!out.root) out.root = t.name;
    stack.push(t.name);
    if (t.name === "g" && (t.attributes.class === "node" || t.attributes.class === "edge")) out.groups.push({ cls: t.attributes.class, title: "" });
  };
  p.onclosetag = () => void stack.pop();
  p.ontext = (s) => {
    const top = stack[stack.length - 1];
    if (top === "title" && out.groups.length && stack[stack.length - 2] === "g") out.groups[out.groups.length - 1].title += s;
    if (top === "text") out.texts.push(s.trim());
  };
  p.write(xml).close();
  return out;
}

test("the XML check can fail: a malformed document is refused", () => {
  assert.throws(() => readXml('<svg xmlns="http://www.w3.org/2000/svg"><g></svg>'), /Unexpected close tag|Unclosed/);
});

/** Decodes an 8-bit RGBA, non-interlaced PNG (what resvg writes), checking every chunk's CRC. */
function decodePng(png: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8;
  let header: { width: number; height: number; depth: number; colour: number; interlace: number } | undefined;
  const idat: Uint8Array[] = [];
  for (;;) {
    const len = dv.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    assert.equal(crc32(png.subarray(at + 4, at + 8 + len)), dv.getUint32(at + 8 + len), `CRC of chunk ${type}`);
    if (type === "IHDR") header = { width: dv.getUint32(at + 8), height: dv.getUint32(at + 12), depth: png[at + 16], colour: png[at + 17], interlace: png[at + 20] };
    if (type === "IDAT") idat.push(png.subarray(at + 8, at + 8 + len));
    at += 12 + len;
    if (type === "IEND") break;
  }
  assert.ok(header && header.width > 0 && header.height > 0, `IHDR with a size, got ${JSON.stringify(header)}`);
  assert.deepEqual([header.depth, header.colour, header.interlace], [8, 6, 0], "8-bit RGBA, not interlaced");
  const { width, height } = header;
  const stride = width * 4;
  const raw = inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, height * (stride + 1), "one filter byte and one row of pixels per line");
  const img = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const o = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= 4 ? img[o + x - 4] : 0;
      const b = y > 0 ? img[o - stride + x] : 0;
      const c = x >= 4 && y > 0 ? img[o - stride + x - 4] : 0;
      const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      assert.ok(predictor !== undefined, `filter type ${filter} at row ${y}`);
      img[o + x] = (line[x] + predictor) & 255;
    }
  }
  return { width, height, rgba: img };
}

/** Python 3's output for a script reading `input`, or undefined (with a note) when python3 is absent. */
function python(args: string[], input: string): string | undefined {
  const r = spawnSync("python3", args, { input, encoding: "utf8" });
  if (r.error) {
    console.log(`note: python3 is absent (${r.error.message}); the byte-for-byte comparison with Python's json is skipped`);
    return undefined;
  }
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
