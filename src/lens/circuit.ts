/**
 * A circuit: components ("input", heads "a{L}.h{H}", MLPs "m{L}", "logits") joined by weighted edges,
 * named and shaped as in EAP-IG (edges into a head feed its q, k or v input). Circuit discovery builds
 * one from node and edge scores; one can also be written by hand or read from EAP-IG's JSON. It shows
 * as the circuit view and exports to JSON, DOT, Mermaid, SVG and PNG (./circuit-export.ts).
 */
import { writeFile } from "node:fs/promises";
import { BadArgumentError } from "../engine";
import { headName, mlpName, parseComponent, type CircuitEdge, type CircuitNode, type CircuitView, type ComponentRef, type EdgeInput, type MetricInfo } from "../protocol";
import { circuitFormatOf, edgeName, exportCircuit, parseCircuitJson, type CircuitFormat } from "./circuit-export";
import { LensResult } from "./result";
import { fmt, markdownTable } from "./text";

/** The model's shape; parallelAttnMlp (GPT-J, NeoX style blocks) is false unless given. */
export type CircuitCfg = Omit<CircuitView["cfg"], "parallelAttnMlp"> & { parallelAttnMlp?: boolean };

/** A node: its name and score; kind, layer and head follow from the name (checked if given). */
export type CircuitNodeInit = Pick<CircuitNode, "id" | "score"> & Partial<Omit<CircuitNode, "id" | "score">>;
/** An edge; inGraph defaults to true. */
export type CircuitEdgeInit = Pick<CircuitEdge, "from" | "to" | "score"> & Partial<Pick<CircuitEdge, "input" | "inGraph">>;

/** What a circuit is made from. A CircuitView (a circuit's payload) is one. */
export interface CircuitInit {
  cfg: CircuitCfg;
  /** every node an edge names; a node's inGraph defaults to whether an in-graph edge touches it */
  nodes: readonly CircuitNodeInit[];
  edges: readonly CircuitEdgeInit[];
  /** defaults to "circuit (<method>)" */
  title?: string;
  /** how it was found, e.g. "EAP-IG (ig_steps 5)"; defaults to "manual" */
  method?: string;
  metric?: MetricInfo;
  faithfulness?: number;
  reduced?: string;
}

type Cfg = CircuitView["cfg"];

/** Every node of EAP-IG's graph of a model (Graph.from_model), in its order. */
export function circuitNodes(cfg: CircuitCfg): string[] {
  const ids = ["input"];
  for (let l = 0; l < cfg.nLayers; l++) {
    for (let h = 0; h < cfg.nHeads; h++) ids.push(headName(l, h));
    ids.push(mlpName(l));
  }
  ids.push("logits");
  return ids;
}

/** Every edge of EAP-IG's graph of a model (Graph.from_model), in its order. */
export function circuitEdges(cfg: CircuitCfg): { from: string; to: string; input?: EdgeInput }[] {
  const edges: { from: string; to: string; input?: EdgeInput }[] = [];
  const stream = ["input"];
  for (let l = 0; l < cfg.nLayers; l++) {
    const heads = Array.from({ length: cfg.nHeads }, (_, h) => headName(l, h));
    const mlp = mlpName(l);
    for (const from of stream) {
      for (const to of heads) for (const input of ["q", "k", "v"] as const) edges.push({ from, to, input });
      if (cfg.parallelAttnMlp) edges.push({ from, to: mlp });
    }
    stream.push(...heads);
    if (!cfg.parallelAttnMlp) for (const from of stream) edges.push({ from, to: mlp });
    stream.push(mlp);
  }
  for (const from of stream) edges.push({ from, to: "logits" });
  return edges;
}

/** Position of a node in EAP-IG's forward order (input, a0.h0.., m0, a1.h0.., logits). */
function order(c: ComponentRef, cfg: Cfg): number {
  switch (c.kind) {
    case "input":
      return 0;
    case "head":
      return 1 + c.layer * (cfg.nHeads + 1) + c.head;
    case "mlp":
      return 1 + c.layer * (cfg.nHeads + 1) + cfg.nHeads;
    case "logits":
      return 1 + cfg.nLayers * (cfg.nHeads + 1);
  }
}

// An edge exists when the source writes the residual stream before the target reads it. Steps: a
// layer's heads read and write at 2L; its MLP reads at 2L+1 (after the heads) or, in parallel blocks,
// at 2L; every MLP writes at 2L+1.
const writesAt = (c: ComponentRef): number => (c.kind === "input" ? -1 : c.kind === "head" ? 2 * c.layer : c.kind === "mlp" ? 2 * c.layer + 1 : Infinity);
const readsAt = (c: ComponentRef, parallelAttnMlp: boolean): number =>
  c.kind === "head" ? 2 * c.layer : c.kind === "mlp" ? 2 * c.layer + (parallelAttnMlp ? 0 : 1) : c.kind === "logits" ? Infinity : -1;

/** Whether `to` reads what `from` writes into the residual stream: whether the edge from -> to can exist. */
export function feeds(from: ComponentRef, to: ComponentRef, parallelAttnMlp = false): boolean {
  return writesAt(from) < readsAt(to, parallelAttnMlp);
}

const NAMES = `use "input", "a{L}.h{H}" (e.g. "a0.h1"), "m{L}" or "logits"`;

function checkCfg(cfg: CircuitCfg): Cfg {
  const int = (v: unknown, min: number) => Number.isInteger(v) && (v as number) >= min;
  const ok = typeof cfg === "object" && cfg !== null && int(cfg.nLayers, 1) && int(cfg.nHeads, 1) && int(cfg.dModel, 0) && ["boolean", "undefined"].includes(typeof cfg.parallelAttnMlp);
  if (!ok) {
    throw new BadArgumentError(`Circuit: cfg should be { nLayers, nHeads: integers >= 1, dModel: integer >= 0, parallelAttnMlp?: boolean } (model.config has them), got ${JSON.stringify(cfg)}.`);
  }
  return { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, parallelAttnMlp: cfg.parallelAttnMlp ?? false };
}

function checkScore(what: string, score: unknown): number {
  if (typeof score !== "number" || !Number.isFinite(score)) throw new BadArgumentError(`Circuit: ${what} needs a finite number as score, got ${String(score)}.`);
  return score;
}

function checkNode(n: CircuitNodeInit, cfg: Cfg): { ref: ComponentRef; node: Omit<CircuitNode, "inGraph"> } {
  const ref = typeof n?.id === "string" ? parseComponent(n.id) : undefined;
  if (!ref) throw new BadArgumentError(`Circuit: node ${JSON.stringify(n?.id)} is not a component name: ${NAMES}.`);
  const layer = ref.kind === "head" || ref.kind === "mlp" ? ref.layer : null;
  const head = ref.kind === "head" ? ref.head : undefined;
  if ((layer !== null && layer >= cfg.nLayers) || (head !== undefined && head >= cfg.nHeads)) {
    throw new BadArgumentError(`Circuit: node "${n.id}" is outside the model: cfg has layers 0..${cfg.nLayers - 1} and heads 0..${cfg.nHeads - 1}.`);
  }
  const derived = { kind: ref.kind, layer, head };
  for (const key of ["kind", "layer", "head"] as const) {
    if (n[key] !== undefined && n[key] !== derived[key]) {
      throw new BadArgumentError(`Circuit: node "${n.id}" says ${key} ${JSON.stringify(n[key])}, but its name means ${key} ${JSON.stringify(derived[key])}; leave ${key} out or fix it.`);
    }
  }
  const node = { id: n.id, kind: ref.kind, layer, ...(head === undefined ? {} : { head }), score: checkScore(`node "${n.id}"`, n.score) };
  return { ref, node };
}

function checkEdge(e: CircuitEdgeInit, refs: Map<string, ComponentRef>, cfg: Cfg): CircuitEdge {
  const name = edgeName(e);
  for (const end of [e.from, e.to]) {
    if (!refs.has(end)) throw new BadArgumentError(`Circuit: edge "${name}" names node ${JSON.stringify(end)}, which is not among the circuit's nodes: add it to nodes (with its score) or drop the edge.`);
  }
  const from = refs.get(e.from)!;
  const to = refs.get(e.to)!;
  if (to.kind === "head" && !["q", "k", "v"].includes(e.input as string)) {
    throw new BadArgumentError(`Circuit: edge "${name}" goes into a head: say which input it feeds with input: "q", "k" or "v" (EAP-IG names it "${e.from}->${e.to}<q>").`);
  }
  if (to.kind !== "head" && e.input !== undefined) {
    throw new BadArgumentError(`Circuit: edge "${name}" has input ${JSON.stringify(e.input)}, but only edges into a head have one (q, k or v); leave it out.`);
  }
  if (!feeds(from, to, cfg.parallelAttnMlp)) {
    throw new BadArgumentError(`Circuit: edge "${name}" cannot exist: ${e.to} does not read what ${e.from} writes (edges go from an earlier component to a later one; a layer's MLP reads its heads${cfg.parallelAttnMlp ? " except in parallel blocks" : ""}).`);
  }
  if (e.inGraph !== undefined && typeof e.inGraph !== "boolean") throw new BadArgumentError(`Circuit: edge "${name}" has inGraph ${JSON.stringify(e.inGraph)}; use true or false.`);
  return { from: e.from, to: e.to, ...(e.input ? { input: e.input } : {}), score: checkScore(`edge "${name}"`, e.score), inGraph: e.inGraph ?? true };
}

function validate(init: CircuitInit): CircuitView {
  if (typeof init !== "object" || init === null || !Array.isArray(init.nodes) || !Array.isArray(init.edges)) {
    throw new BadArgumentError("Circuit: expected { cfg, nodes: [{ id, score }], edges: [{ from, to, input?, score }] }.");
  }
  const cfg = checkCfg(init.cfg);
  const refs = new Map<string, ComponentRef>();
  const nodes: { ref: ComponentRef; node: Omit<CircuitNode, "inGraph">; inGraph?: boolean }[] = [];
  for (const n of init.nodes) {
    const checked = checkNode(n, cfg);
    if (refs.has(checked.node.id)) throw new BadArgumentError(`Circuit: node "${checked.node.id}" is listed twice; list each node once.`);
    if (n.inGraph !== undefined && typeof n.inGraph !== "boolean") throw new BadArgumentError(`Circuit: node "${n.id}" has inGraph ${JSON.stringify(n.inGraph)}; use true or false.`);
    refs.set(checked.node.id, checked.ref);
    nodes.push({ ...checked, inGraph: n.inGraph });
  }
  const names = new Set<string>();
  const edges = init.edges.map((e) => {
    const edge = checkEdge(e, refs, cfg);
    const name = edgeName(edge);
    if (names.has(name)) throw new BadArgumentError(`Circuit: edge "${name}" is listed twice; list each edge once.`);
    names.add(name);
    return Object.freeze(edge);
  });
  const touched = new Set(edges.filter((e) => e.inGraph).flatMap((e) => [e.from, e.to]));
  nodes.sort((a, b) => order(a.ref, cfg) - order(b.ref, cfg));
  if (init.faithfulness !== undefined) checkScore("faithfulness", init.faithfulness);
  const method = init.method ?? "manual";
  return {
    title: init.title ?? `circuit (${method})`,
    ...(init.reduced === undefined ? {} : { reduced: init.reduced }),
    cfg: Object.freeze(cfg),
    nodes: Object.freeze(nodes.map((n) => Object.freeze({ ...n.node, inGraph: n.inGraph ?? touched.has(n.node.id) }))) as CircuitNode[],
    edges: Object.freeze(edges) as CircuitEdge[],
    ...(init.metric === undefined ? {} : { metric: init.metric }),
    ...(init.faithfulness === undefined ? {} : { faithfulness: init.faithfulness }),
    method,
  };
}

/** Names reachable from `start` following `next` over `edges`. */
function reach(start: string, edges: readonly CircuitEdge[], next: (e: CircuitEdge) => [string, string]): Set<string> {
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const [a, b] = next(e);
    out.set(a, [...(out.get(a) ?? []), b]);
  }
  const seen = new Set([start]);
  const todo = [start];
  while (todo.length) {
    for (const b of out.get(todo.pop()!) ?? []) {
      if (!seen.has(b)) {
        seen.add(b);
        todo.push(b);
      }
    }
  }
  return seen;
}

const MARKDOWN_ROWS = 40;

export class Circuit extends LensResult<"circuit"> {
  readonly view = "circuit" as const;
  readonly #data: CircuitView;

  /** Checks the names, ranges and directions, and orders nodes as EAP-IG does. */
  constructor(init: CircuitInit) {
    super();
    this.#data = validate(init);
  }

  /** Reads EAP-IG's Graph.to_json file (or a circuit's own JSON, JSON.stringify(circuit)). */
  static fromJSON(text: string): Circuit {
    return new Circuit(parseCircuitJson(text));
  }

  get nodes(): readonly CircuitNode[] {
    return this.#data.nodes;
  }

  get edges(): readonly CircuitEdge[] {
    return this.#data.edges;
  }

  get cfg(): Readonly<Cfg> {
    return this.#data.cfg;
  }

  get faithfulness(): number | undefined {
    return this.#data.faithfulness;
  }

  get method(): string {
    return this.#data.method;
  }

  /** The k edges in the graph with the largest |score|, largest first (ties keep the circuit's order). */
  top(k: number): CircuitEdge[] {
    if (!Number.isInteger(k) || k < 0) throw new BadArgumentError(`circuit.top(k): k should be a whole number >= 0, got ${String(k)}.`);
    return this.#data.edges
      .filter((e) => e.inGraph)
      .sort((a, b) => Math.abs(b.score) - Math.abs(a.score))
      .slice(0, k);
  }

  /**
   * A new circuit whose graph holds the edges with |score| >= threshold that lie on a path from input
   * to logits made of such edges, and the nodes on those paths: EAP-IG's pruning of nodes without
   * incoming or outgoing edges, run to its fixed point. Empty (logits included) when no path is left.
   */
  prune(threshold: number): Circuit {
    if (typeof threshold !== "number" || !(threshold >= 0) || !Number.isFinite(threshold)) {
      throw new BadArgumentError(`circuit.prune(threshold): threshold should be a finite number >= 0 (compared with |score|), got ${String(threshold)}.`);
    }
    const strong = this.#data.edges.filter((e) => Math.abs(e.score) >= threshold);
    const fromInput = reach("input", strong, (e) => [e.from, e.to]);
    const toLogits = reach("logits", strong, (e) => [e.to, e.from]);
    return new Circuit({
      ...this.#data,
      nodes: this.#data.nodes.map((n) => ({ ...n, inGraph: fromInput.has(n.id) && toLogits.has(n.id) })),
      edges: this.#data.edges.map((e) => ({ ...e, inGraph: Math.abs(e.score) >= threshold && fromInput.has(e.from) && toLogits.has(e.to) })),
    });
  }

  /** json: EAP-IG's format; dot / mermaid: text; svg: Graphviz's drawing; png: that drawing rendered. */
  export(format: "png"): Promise<Uint8Array>;
  export(format: "json" | "dot" | "mermaid" | "svg"): Promise<string>;
  export(format: CircuitFormat): Promise<string | Uint8Array>;
  export(format: CircuitFormat): Promise<string | Uint8Array> {
    return exportCircuit(this.#data, format);
  }

  /** Writes the export its extension names: .json, .dot/.gv, .mmd/.mermaid, .svg or .png. */
  async save(path: string): Promise<void> {
    await writeFile(path, await this.export(circuitFormatOf(path)));
  }

  payload(): CircuitView {
    return this.#data;
  }

  markdown(): string {
    const v = this.#data;
    const nodes = v.nodes.filter((n) => n.inGraph).sort((a, b) => Math.abs(b.score) - Math.abs(a.score));
    const edges = this.top(v.edges.length);
    const facts = [
      `${nodes.length} of ${v.nodes.length} nodes and ${edges.length} of ${v.edges.length} edges in the graph`,
      ...(v.faithfulness === undefined ? [] : [`faithfulness ${fmt(v.faithfulness)}`]),
      `method ${v.method}`,
      ...(v.metric ? [`metric ${v.metric.name}`] : []),
    ];
    const more = (n: number) => (n > MARKDOWN_ROWS ? [`\n… and ${n - MARKDOWN_ROWS} more (circuit.nodes, circuit.edges).`] : []);
    return [
      `**${v.title}**: ${facts.join("; ")}.`,
      ...(v.reduced ? [`\n_${v.reduced}_`] : []),
      "\nNodes in the graph, by |score|:\n",
      markdownTable(["node", "score"], nodes.slice(0, MARKDOWN_ROWS).map((n) => [n.id, fmt(n.score)])),
      ...more(nodes.length),
      "\nEdges in the graph, by |score|:\n",
      markdownTable(["from", "to", "input", "score"], edges.slice(0, MARKDOWN_ROWS).map((e) => [e.from, e.to, e.input ?? "", fmt(e.score)])),
      ...more(edges.length),
    ].join("\n");
  }

  /** e.g. "circuit 7 nodes, 9 edges, faithfulness 0.97" (counts of what is in the graph). */
  summary(): string {
    const nodes = this.#data.nodes.filter((n) => n.inGraph).length;
    const edges = this.#data.edges.filter((e) => e.inGraph).length;
    const f = this.#data.faithfulness;
    return `circuit ${nodes} nodes, ${edges} edges${f === undefined ? "" : `, faithfulness ${fmt(f)}`}`;
  }
}
