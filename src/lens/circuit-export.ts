/**
 * Circuits out of the notebook: EAP-IG's JSON (hannamw/EAP-IG, src/eap/graph.py: what Graph.to_json
 * writes and Graph.from_json loads), Graphviz DOT laid out by layer, Mermaid, and SVG / PNG drawn from
 * that DOT by Graphviz compiled to WebAssembly (@viz-js/viz) and resvg (@resvg/resvg-js), so no system
 * program is needed. Works on the circuit's view data; src/lens/circuit.ts validates it.
 */
import { BadArgumentError } from "../engine";
import type { CircuitEdge, CircuitNode, CircuitView, EdgeInput } from "../protocol";
import { findJsonSyntaxError } from "../protocol/json-syntax";
import type { CircuitEdgeInit, CircuitInit, CircuitNodeInit } from "./circuit";
import { fmt } from "./text";

export type CircuitFormat = "json" | "dot" | "mermaid" | "svg" | "png";

const EXTENSIONS: Record<string, CircuitFormat> = {
  ".json": "json",
  ".dot": "dot",
  ".gv": "dot",
  ".mmd": "mermaid",
  ".mermaid": "mermaid",
  ".svg": "svg",
  ".png": "png",
};

/** The format a file name asks for, by its extension. */
export function circuitFormatOf(path: string): CircuitFormat {
  const ext = /\.[^./\\]+$/.exec(path)?.[0].toLowerCase();
  const format = ext === undefined ? undefined : EXTENSIONS[ext];
  if (!format) {
    throw new BadArgumentError(`Cannot tell how to save a circuit to "${path}": use one of the extensions ${Object.keys(EXTENSIONS).join(", ")}.`);
  }
  return format;
}

/** EAP-IG's edge name: "a0.h1->a2.h3<q>" into a head, "m1->logits" elsewhere. */
export function edgeName(e: { from: string; to: string; input?: EdgeInput }): string {
  return e.input ? `${e.from}->${e.to}<${e.input}>` : `${e.from}->${e.to}`;
}

export function parseEdgeName(name: string): { from: string; to: string; input?: EdgeInput } | undefined {
  const m = /^([^<>-]+)->([^<>-]+?)(?:<([qkv])>)?$/.exec(name);
  if (!m) return undefined;
  return m[3] ? { from: m[1], to: m[2], input: m[3] as EdgeInput } : { from: m[1], to: m[2] };
}

export async function exportCircuit(view: CircuitView, format: CircuitFormat): Promise<string | Uint8Array> {
  switch (format) {
    case "json":
      return circuitToEapJson(view);
    case "dot":
      return circuitToDot(view);
    case "mermaid":
      return circuitToMermaid(view);
    case "svg":
      return circuitToSvg(view);
    case "png":
      return circuitToPng(view);
    default:
      throw new BadArgumentError(`Unknown circuit format ${JSON.stringify(format)}: use "json", "dot", "mermaid", "svg" or "png".`);
  }
}

// ---------------------------------------------------------------------------------------------
// EAP-IG's JSON, written as Python's json.dump writes it (", " and ": " separators, float repr,
// ASCII only, NaN for an unscored value), so the file is the one EAP-IG itself would write.

/** Python's repr of a float: shortest digits, exponent below 1e-4 and from 1e16, always a point or exponent. */
function pyFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const [mantissa, exp] = v.toExponential().split("e");
  const e = Number(exp);
  if (e < -4 || e >= 16) return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  const s = String(v);
  return s.includes(".") ? s : `${s}.0`;
}

function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Numbers as Python floats, except those the caller marks as ints by passing bigint. */
function py(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return String(v);
  if (typeof v === "number") return pyFloat(v);
  if (typeof v === "string") return pyString(v);
  if (Array.isArray(v)) return `[${v.map(py).join(", ")}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  return `{${entries.map(([k, x]) => `${pyString(k)}: ${py(x)}`).join(", ")}}`;
}

/**
 * The circuit as EAP-IG's Graph.to_json writes it: cfg (n_layers, n_heads, parallel_attn_mlp, d_model),
 * nodes {name: {in_graph, score}}, edges {name: {score, in_graph}}. It lists this circuit's nodes and
 * edges; Graph.from_json leaves the model's others out of the graph. A "steer" key keeps the title,
 * method, metric and faithfulness (from_json reads only cfg, nodes and edges).
 */
export function circuitToEapJson(view: CircuitView): string {
  const nodes: Record<string, unknown> = {};
  for (const n of view.nodes) nodes[n.id] = { in_graph: n.inGraph, score: n.score };
  const edges: Record<string, unknown> = {};
  for (const e of view.edges) edges[edgeName(e)] = { score: e.score, in_graph: e.inGraph };
  const { nLayers, nHeads, parallelAttnMlp, dModel } = view.cfg;
  return py({
    cfg: { n_layers: BigInt(nLayers), n_heads: BigInt(nHeads), parallel_attn_mlp: parallelAttnMlp, d_model: BigInt(dModel) },
    nodes,
    edges,
    steer: { title: view.title, method: view.method, metric: view.metric, faithfulness: view.faithfulness, reduced: view.reduced },
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Reads EAP-IG's JSON (current: nodes {name: {in_graph, score?}}; older: nodes {name: in_graph}) or a
 * circuit view's JSON (JSON.stringify of a Circuit). Python writes NaN for an unscored node or edge:
 * it reads as score 0. Nodes an edge names but `nodes` leaves out are added, with score 0.
 */
export function parseCircuitJson(text: string): CircuitInit {
  // Python's json writes NaN and Infinity bare; JSON.parse rejects them. Strings are matched first so
  // a name holding those letters is left alone.
  let infinite = false;
  const standard = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => {
    if (m.startsWith('"')) return m;
    if (m !== "NaN") infinite = true;
    return "null";
  });
  if (infinite) throw new BadArgumentError("Circuit.fromJSON: the file holds an infinite score (Infinity); no circuit can use it: fix the scores that produced it.");
  let d: unknown;
  try {
    d = JSON.parse(standard);
  } catch {
    const p = findJsonSyntaxError(standard);
    throw new BadArgumentError(`Circuit.fromJSON: the text is not JSON${p ? ` (line ${p.line}, column ${p.column}: ${p.message})` : ""}.`);
  }
  if (!isObject(d)) throw new BadArgumentError("Circuit.fromJSON: expected a JSON object with cfg, nodes and edges (EAP-IG's Graph.to_json format).");
  if (Array.isArray(d.nodes)) return d as unknown as CircuitInit;
  const missing = ["cfg", "nodes", "edges"].filter((k) => !isObject(d[k]));
  if (missing.length) {
    throw new BadArgumentError(`Circuit.fromJSON: missing or not an object: ${missing.join(", ")}. Expected EAP-IG's Graph.to_json format { cfg, nodes, edges } or a circuit view's JSON.`);
  }
  const cfg = d.cfg as Record<string, unknown>;
  if (!Number.isInteger(cfg.n_layers) || !Number.isInteger(cfg.n_heads)) {
    throw new BadArgumentError(`Circuit.fromJSON: cfg needs n_layers and n_heads as integers (EAP-IG writes them from the model's config), got ${JSON.stringify(cfg)}.`);
  }
  const score = (v: unknown): number => (typeof v === "number" ? v : 0);

  const nodes = new Map<string, CircuitNodeInit>();
  for (const [id, info] of Object.entries(d.nodes as Record<string, unknown>)) {
    if (typeof info === "boolean") nodes.set(id, { id, score: 0, inGraph: info });
    else if (isObject(info) && typeof info.in_graph === "boolean") nodes.set(id, { id, score: score(info.score), inGraph: info.in_graph });
    else throw new BadArgumentError(`Circuit.fromJSON: node "${id}" should be { "in_graph": true|false, "score": number }, got ${JSON.stringify(info)}.`);
  }
  const edges: CircuitEdgeInit[] = [];
  for (const [name, info] of Object.entries(d.edges as Record<string, unknown>)) {
    const parsed = parseEdgeName(name);
    if (!parsed) throw new BadArgumentError(`Circuit.fromJSON: edge "${name}" is not named as EAP-IG names edges ("a0.h1->a2.h3<q>", "m1->logits").`);
    if (!isObject(info) || typeof info.in_graph !== "boolean") {
      throw new BadArgumentError(`Circuit.fromJSON: edge "${name}" should be { "score": number, "in_graph": true|false }, got ${JSON.stringify(info)}.`);
    }
    edges.push({ ...parsed, score: score(info.score), inGraph: info.in_graph });
    for (const id of [parsed.from, parsed.to]) if (!nodes.has(id)) nodes.set(id, { id, score: 0 });
  }
  const steer = isObject(d.steer) ? d.steer : {};
  return {
    cfg: {
      nLayers: cfg.n_layers as number,
      nHeads: cfg.n_heads as number,
      dModel: (cfg.d_model ?? 0) as number,
      parallelAttnMlp: (cfg.parallel_attn_mlp ?? false) as boolean,
    },
    nodes: [...nodes.values()],
    edges,
    title: typeof steer.title === "string" ? steer.title : undefined,
    method: typeof steer.method === "string" ? steer.method : "loaded from EAP-IG JSON",
    metric: isObject(steer.metric) ? (steer.metric as unknown as CircuitInit["metric"]) : undefined,
    faithfulness: typeof steer.faithfulness === "number" ? steer.faithfulness : undefined,
    reduced: typeof steer.reduced === "string" ? steer.reduced : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Diagrams. Only the nodes and edges in the graph are drawn, as EAP-IG's to_image does.

const NODE_FILL: Record<CircuitNode["kind"], string> = { input: "#e0e0e0", head: "#cfe2f3", mlp: "#fce5cd", logits: "#d9ead3" };
const POSITIVE = "#2166ac";
const NEGATIVE = "#b2182b";
/** How q, k and v edges differ besides their label: the same dash patterns in DOT and Mermaid. */
const INPUT_STYLE: Record<EdgeInput, { dot: string; dash: string }> = {
  q: { dot: "dashed", dash: "6 3" },
  k: { dot: "dotted", dash: "2 2" },
  v: { dot: "solid", dash: "" },
};

function drawn(view: CircuitView): { nodes: CircuitNode[]; edges: CircuitEdge[]; penwidth: (e: CircuitEdge) => number } {
  const edges = view.edges.filter((e) => e.inGraph);
  const max = edges.reduce((m, e) => Math.max(m, Math.abs(e.score)), 0);
  return {
    nodes: view.nodes.filter((n) => n.inGraph),
    edges,
    penwidth: (e) => Number((0.6 + (max > 0 ? (4.4 * Math.abs(e.score)) / max : 0)).toFixed(2)),
  };
}

/** Rows top to bottom: input, then per layer its heads and (reading them) its MLP, then logits. */
function rankOf(n: CircuitNode, parallel: boolean): string {
  if (n.kind === "head") return `${n.layer}a`;
  if (n.kind === "mlp") return parallel ? `${n.layer}a` : `${n.layer}m`;
  return n.kind;
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

function caption(view: CircuitView): string {
  return view.faithfulness === undefined ? view.title : `${view.title}\nfaithfulness ${fmt(view.faithfulness)}`;
}

/**
 * Past this many rows crossed by edges (Graphviz's virtual nodes), dot's spline routing and its
 * optimisation passes grow fast (measured: 1,600 rows 1.4 s, 2,600 rows 3.5 s, 4,300 rows 16 s; a
 * 500-node, 2,000-edge circuit over 10 minutes), so the layout switches to straight edges and capped
 * passes (that circuit: about 3 s).
 */
const FAST_LAYOUT_SPAN = 2500;
const FAST_LAYOUT = "splines=line, mclimit=0.01, nslimit=0.1, nslimit1=0.1";
/**
 * Up to this many edges, q/k/v are edge labels, placed by the layout beside their edge. Past it they are
 * xlabels, placed after it: a label takes a slot in every row its edge crosses, which made the full 4x4
 * graph (479 edges) 8,600 pt wide and 10 times slower to lay out (5,600 pt with xlabels).
 */
const LABELLED_EDGES = 100;

/**
 * Graphviz DOT, one row per layer (rank=same: input at the top, each layer's heads, its MLP, logits
 * at the bottom; invisible edges keep the rows in order when no edge links two of them). Node fill by
 * kind; edge colour by sign (blue positive, red negative), width by |score|; edges into a head are
 * dashed (q), dotted (k) or solid (v) and labelled with the input (label or xlabel: LABELLED_EDGES).
 */
export function circuitToDot(view: CircuitView): string {
  const { nodes, edges, penwidth } = drawn(view);
  const rows = new Map<string, CircuitNode[]>();
  for (const n of nodes) {
    const key = rankOf(n, view.cfg.parallelAttnMlp);
    rows.set(key, [...(rows.get(key) ?? []), n]);
  }
  const rowOf = new Map<string, number>();
  [...rows.values()].forEach((row, i) => row.forEach((n) => rowOf.set(n.id, i)));
  const span = edges.reduce((s, e) => s + rowOf.get(e.to)! - rowOf.get(e.from)!, 0);
  const labelled = edges.length <= LABELLED_EDGES;
  const lines = [
    "digraph circuit {",
    `  graph [rankdir=TB, newrank=true, ranksep=0.5, nodesep=0.2, bgcolor="white", fontname="Helvetica", labelloc=t, label=${dotString(caption(view))}];`,
    ...(span > FAST_LAYOUT_SPAN ? [`  graph [${FAST_LAYOUT}];`] : []),
    `  node [shape=box, style="filled,rounded", color="#333333", fontname="Helvetica", fontsize=11];`,
    `  edge [fontname="Helvetica", fontsize=9, arrowsize=0.6];`,
  ];
  for (const row of rows.values()) {
    const rank = row[0].kind === "input" ? "source" : row[0].kind === "logits" ? "sink" : "same";
    lines.push(`  { rank=${rank};`);
    for (const n of row) {
      lines.push(`    ${dotString(n.id)} [label=${dotString(`${n.id}\n${fmt(n.score)}`)}, fillcolor="${NODE_FILL[n.kind]}", tooltip=${dotString(`${n.id} score ${fmt(n.score)}`)}];`);
    }
    lines.push("  }");
  }
  const firsts = [...rows.values()].map((r) => r[0].id);
  for (let i = 1; i < firsts.length; i++) lines.push(`  ${dotString(firsts[i - 1])} -> ${dotString(firsts[i])} [style=invis];`);
  for (const e of edges) {
    const attrs = [`color="${e.score < 0 ? NEGATIVE : POSITIVE}"`, `penwidth=${penwidth(e)}`, `tooltip=${dotString(`${edgeName(e)} ${fmt(e.score)}`)}`];
    if (e.input) attrs.push(`style=${INPUT_STYLE[e.input].dot}`, `${labelled ? "label" : "xlabel"}=${dotString(e.input)}`, `fontcolor="${e.score < 0 ? NEGATIVE : POSITIVE}"`);
    lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [${attrs.join(", ")}];`);
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

/** A Mermaid id for a component name: its dots become underscores ("a0.h1" -> "a0_h1"), unique for valid names. */
function mermaidId(id: string): string {
  return id.replace(/[^A-Za-z0-9]/g, "_");
}

function mermaidLabel(s: string): string {
  return `"${s.replace(/&/g, "#amp;").replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;")}"`;
}

/** A Mermaid `flowchart TB`: the nodes and edges of the DOT, with the same colours, widths and dashes. */
export function circuitToMermaid(view: CircuitView): string {
  const { nodes, edges, penwidth } = drawn(view);
  const lines = ["---", `title: ${JSON.stringify(caption(view).replace(/\n/g, ", "))}`, "---", "flowchart TB"];
  for (const n of nodes) lines.push(`  ${mermaidId(n.id)}[${mermaidLabel(`${n.id} ${fmt(n.score)}`)}]:::${n.kind}`);
  edges.forEach((e) => {
    const label = e.input ? `|${e.input}|` : "";
    lines.push(`  ${mermaidId(e.from)} -->${label} ${mermaidId(e.to)}`);
  });
  edges.forEach((e, i) => {
    const dash = e.input && INPUT_STYLE[e.input].dash ? `,stroke-dasharray:${INPUT_STYLE[e.input].dash}` : "";
    lines.push(`  linkStyle ${i} stroke:${e.score < 0 ? NEGATIVE : POSITIVE},stroke-width:${penwidth(e)}px${dash}`);
  });
  for (const [kind, fill] of Object.entries(NODE_FILL)) lines.push(`  classDef ${kind} fill:${fill},stroke:#333333`);
  return lines.join("\n") + "\n";
}

type Viz = Awaited<ReturnType<typeof import("@viz-js/viz").instance>>;
let viz: Promise<Viz> | undefined;

/** The DOT laid out by Graphviz (WebAssembly; loaded on first use). */
export async function circuitToSvg(view: CircuitView): Promise<string> {
  viz ??= import("@viz-js/viz").then((m) => m.instance());
  const result = (await viz).render(circuitToDot(view), { format: "svg", engine: "dot" });
  if (result.status !== "success") {
    throw new Error(`Graphviz could not lay out the circuit: ${result.errors.map((e) => e.message).join("; ")}`);
  }
  // Graphviz writes "Helvetica,sans-Serif"; resvg reads the generic name case-sensitively and maps it
  // to Arial, absent on most Linux machines, so name the usual sans-serif faces explicitly.
  return result.output.replaceAll('font-family="Helvetica,sans-Serif"', 'font-family="Helvetica,Arial,DejaVu Sans,Liberation Sans,sans-serif"');
}

/** The largest side of a PNG, in pixels: a 500-node circuit would otherwise be tens of thousands wide. */
const PNG_MAX_SIDE = 8192;

/** The SVG rendered by resvg at twice its size (at most PNG_MAX_SIDE pixels a side), on white. */
export async function circuitToPng(view: CircuitView): Promise<Uint8Array> {
  const svg = await circuitToSvg(view);
  const box = /viewBox="[\d.-]+ [\d.-]+ ([\d.]+) ([\d.]+)"/.exec(svg);
  // Graphviz sizes the SVG in points; resvg draws 4/3 pixels per point.
  const side = box ? (Math.max(Number(box[1]), Number(box[2])) * 4) / 3 : 0;
  const zoom = side > 0 ? Math.min(2, PNG_MAX_SIDE / side) : 2;
  const { Resvg } = await import("@resvg/resvg-js");
  const png = new Resvg(svg, { background: "white", fitTo: { mode: "zoom", value: zoom } }).render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
