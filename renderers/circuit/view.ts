/**
 * Paints a circuit (CircuitView) as an SVG graph laid out by ./layout: nodes coloured by kind, edges
 * by sign (red positive, blue negative, as in the heatmaps), width by |score|, q/k/v edges dashed
 * differently and entering a head at different points. A slider prunes edges live; hovering a node or
 * an edge shows its scores, clicking a node lists them in the details panel; buttons ask the kernel
 * to export the circuit as shown.
 */
import { CIRCUIT_EXPORT_FORMATS, type CircuitExportFormat, type CircuitView, type ExportSaved } from "../../src/protocol/views";
import { css, paletteFor } from "../../webview/colour";
import { formatValue, h, setChildren } from "../../webview/dom";
import { newRequestId, type MessageClient, type NoAnswer } from "../../webview/messages";
import { BASE_CSS, ensureStyle, readTheme } from "../../webview/theme";
import { Tooltip, type TooltipLine } from "../../webview/tooltip";
import { layoutCircuit, NODE_H, NODE_W, shownAt, withShown, type LaidEdge } from "./layout";
import "@vscode-elements/elements/dist/vscode-button/index.js";
import "@vscode-elements/elements/dist/vscode-checkbox/index.js";

const SVG_NS = "http://www.w3.org/2000/svg";

const CSS = `
.steer-circuit { --c-input: var(--vscode-charts-green, #388a34); --c-head: var(--vscode-charts-purple, #652d90);
  --c-mlp: var(--vscode-charts-orange, #d18616); --c-logits: var(--vscode-charts-yellow, #bf8803); }
.steer-circuit .graph { overflow-x: auto; border: 1px solid var(--steer-border); }
.steer-circuit svg.graph-svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.steer-circuit .graph.actual-size svg.graph-svg { max-width: none; }
.steer-circuit .edge { fill: none; }
.steer-circuit .edge.pos { stroke: var(--c-pos); }
.steer-circuit .edge.neg { stroke: var(--c-neg); }
.steer-circuit .edge.q { stroke-dasharray: 6 3; }
.steer-circuit .edge.k { stroke-dasharray: 1.5 2.5; }
.steer-circuit .edge.v { stroke-dasharray: 9 3 2 3; }
.steer-circuit .edge.hit { stroke: transparent; stroke-width: 7px; stroke-dasharray: none; pointer-events: stroke; }
.steer-circuit .off { display: none; }
/* Nodes are opaque (a tint of their colour over the editor's background) so edges pass behind them. */
.steer-circuit .node rect { stroke-width: 1.5px; --c-under: var(--vscode-editor-background, #ffffff); }
.steer-circuit .node text { fill: var(--steer-fg); font: 11px var(--steer-mono); pointer-events: none; }
.steer-circuit .node { cursor: pointer; }
.steer-circuit .node.input rect { stroke: var(--c-input); fill: color-mix(in srgb, var(--c-input) 22%, var(--c-under)); }
.steer-circuit .node.head rect { stroke: var(--c-head); fill: color-mix(in srgb, var(--c-head) 22%, var(--c-under)); }
.steer-circuit .node.mlp rect { stroke: var(--c-mlp); fill: color-mix(in srgb, var(--c-mlp) 22%, var(--c-under)); }
.steer-circuit .node.logits rect { stroke: var(--c-logits); fill: color-mix(in srgb, var(--c-logits) 22%, var(--c-under)); }
.steer-circuit .node.selected rect { stroke: var(--steer-focus); stroke-width: 3px; }
.steer-circuit .node:focus { outline: none; }
.steer-circuit .node:focus-visible rect { stroke: var(--steer-focus); stroke-width: 3px; }
.steer-circuit svg.focused .edge:not(.hit):not(.lit) { opacity: 0.12; }
.steer-circuit input[type=range] { width: 220px; accent-color: var(--steer-focus); }
.steer-circuit .legend svg { vertical-align: middle; }
.steer-circuit .legend span { margin-right: 10px; white-space: nowrap; }
.steer-circuit .details { margin-top: 6px; }
.steer-circuit .details table { border-collapse: collapse; font-family: var(--steer-mono); }
.steer-circuit .details td, .steer-circuit .details th { padding: 1px 8px 1px 0; text-align: left; }
.steer-circuit .details th { color: var(--steer-muted); font-weight: normal; }
`;

const FORMAT_LABEL: Record<CircuitExportFormat, string> = { svg: "SVG", png: "PNG", dot: "DOT", mermaid: "Mermaid", json: "EAP-IG JSON" };
const DETAIL_ROWS = 12;

export interface CircuitViewOptions {
  /** the notebook output id, sent with exports so the host can name the file after the cell */
  outputId: string;
  messages?: MessageClient;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function renderCircuit(element: HTMLElement, circuit: CircuitView, options: CircuitViewOptions): void {
  ensureStyle(document, "steer-base", BASE_CSS);
  ensureStyle(document, "steer-circuit", CSS);
  const layout = layoutCircuit(circuit);
  const root = h("div", { class: "steer-root steer-circuit" });
  const tooltip = new Tooltip(root);
  // Edges are drawn weakest first, so the last is the strongest.
  const maxAbs = layout.edges.at(-1)?.abs || 1;

  // --- the graph: edges under nodes, each edge with a wide invisible twin that takes the pointer
  const graph = svg("svg", { class: "graph-svg", width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, role: "img" });
  graph.setAttribute("aria-label", `${circuit.title}: circuit graph`);
  const edgeLayer = svg("g", { class: "edges" });
  const hitLayer = svg("g", { class: "edge-hits" });
  const nodeLayer = svg("g", { class: "nodes" });
  const edgeEls = new Map<number, SVGPathElement[]>();
  const edgesOf = new Map<string, LaidEdge[]>();
  for (const le of layout.edges) {
    const { edge } = le;
    const cls = `edge ${edge.score < 0 ? "neg" : "pos"}${edge.input ? ` ${edge.input}` : ""}`;
    const line = svg("path", { class: cls, d: le.d, "stroke-width": (0.6 + (4 * le.abs) / maxAbs).toFixed(2), "stroke-opacity": (0.35 + (0.65 * le.abs) / maxAbs).toFixed(2) });
    line.dataset.edge = String(le.index);
    const hit = svg("path", { class: "edge hit", d: le.d });
    hit.dataset.edge = String(le.index);
    edgeEls.set(le.index, [line, hit]);
    edgeLayer.append(line);
    hitLayer.append(hit);
    for (const end of [edge.from, edge.to]) {
      if (!edgesOf.has(end)) edgesOf.set(end, []);
      edgesOf.get(end)!.push(le);
    }
  }
  const nodeEls = new Map<string, SVGGElement>();
  for (const { node, x, y } of layout.nodes.values()) {
    const g = svg("g", { class: `node ${node.kind}`, transform: `translate(${x},${y})`, tabindex: 0, role: "button" });
    g.dataset.node = node.id;
    g.setAttribute("aria-label", `${node.id}, score ${formatValue(node.score)}`);
    const label = svg("text", { x: NODE_W / 2, y: NODE_H / 2 + 4, "text-anchor": "middle" });
    label.textContent = node.id;
    g.append(svg("rect", { width: NODE_W, height: NODE_H, rx: node.kind === "head" ? 3 : 10 }), label);
    nodeEls.set(node.id, g);
    nodeLayer.append(g);
  }
  graph.append(edgeLayer, hitLayer, nodeLayer);

  // --- pruning
  let threshold = layout.initialThreshold;
  let shown = shownAt(circuit, threshold);
  let selected: string | undefined;
  const slider = h("input", { attrs: { type: "range", min: 0, max: Math.max(0, layout.steps.length - 1), step: 1, "aria-label": "edge threshold" } });
  const thresholdText = h("span", { class: "threshold-value steer-tok" });
  const counts = h("span", { class: "counts steer-note" });
  const apply = () => {
    shown = shownAt(circuit, threshold);
    for (const [i, els] of edgeEls) for (const el of els) el.classList.toggle("off", !shown.edges.has(i));
    for (const [id, g] of nodeEls) g.classList.toggle("off", !shown.nodes.has(id));
    thresholdText.textContent = formatValue(threshold);
    counts.textContent = `${shown.edges.size} of ${circuit.edges.length} edges, ${shown.nodes.size} of ${circuit.nodes.length} nodes`;
    if (selected && !shown.nodes.has(selected)) select(undefined);
    else if (selected) select(selected);
  };
  const stepAt = (t: number) => {
    const i = layout.steps.findIndex((s) => s >= t);
    return i < 0 ? layout.steps.length - 1 : i;
  };
  slider.value = String(stepAt(threshold));
  slider.addEventListener("input", () => {
    threshold = layout.steps[Number(slider.value)] ?? 0;
    apply();
  });

  // --- hover and click
  const nodeLines = (id: string): TooltipLine[] => {
    const n = layout.nodes.get(id)!.node;
    const mine = edgesOf.get(id) ?? [];
    const inShown = mine.filter((e) => e.edge.to === id && shown.edges.has(e.index)).length;
    const outShown = mine.filter((e) => e.edge.from === id && shown.edges.has(e.index)).length;
    return [
      ["node", n.id],
      ["kind", n.kind],
      ...(n.layer !== null ? ([["layer", String(n.layer)]] as TooltipLine[]) : []),
      ...(n.head !== undefined ? ([["head", String(n.head)]] as TooltipLine[]) : []),
      ["score", formatValue(n.score)],
      ["in circuit", n.inGraph ? "yes" : "no"],
      ["edges shown", `${inShown} in, ${outShown} out`],
    ];
  };
  const edgeLines = (index: number): TooltipLine[] => {
    const e = circuit.edges[index];
    return [
      ["edge", `${e.from} -> ${e.to}`],
      ...(e.input ? ([["input", e.input]] as TooltipLine[]) : []),
      ["score", formatValue(e.score)],
      ["in circuit", e.inGraph ? "yes" : "no"],
    ];
  };
  const targetOf = (ev: Event): { node?: string; edge?: number } => {
    const el = (ev.target as Element).closest("[data-node], [data-edge]") as SVGElement | null;
    if (!el) return {};
    return el.dataset.node !== undefined ? { node: el.dataset.node } : { edge: Number(el.dataset.edge) };
  };
  graph.addEventListener("pointermove", (ev) => {
    const t = targetOf(ev);
    if (t.node !== undefined) tooltip.show(nodeLines(t.node), ev.clientX, ev.clientY);
    else if (t.edge !== undefined) tooltip.show(edgeLines(t.edge), ev.clientX, ev.clientY);
    else tooltip.hide();
  });
  graph.addEventListener("pointerleave", () => tooltip.hide());
  graph.addEventListener("click", (ev) => select(targetOf(ev).node));
  graph.addEventListener("keydown", (ev) => {
    const t = targetOf(ev);
    if (t.node !== undefined && (ev.key === "Enter" || ev.key === " ")) {
      ev.preventDefault();
      select(t.node);
    }
  });

  const details = h("div", { class: "details", attrs: { "aria-live": "polite" } });
  function select(id: string | undefined): void {
    if (selected) nodeEls.get(selected)?.classList.remove("selected");
    for (const els of edgeEls.values()) els[0].classList.remove("lit");
    selected = id;
    graph.classList.toggle("focused", id !== undefined);
    if (id === undefined) {
      setChildren(details, h("div", { class: "steer-note" }, "Click a node for its scores and edges."));
      return;
    }
    nodeEls.get(id)?.classList.add("selected");
    const mine = (edgesOf.get(id) ?? []).filter((e) => shown.edges.has(e.index));
    for (const e of mine) edgeEls.get(e.index)![0].classList.add("lit");
    const table = (title: string, list: LaidEdge[], other: (e: LaidEdge) => string) => {
      const sorted = [...list].sort((p, q) => q.abs - p.abs);
      return h("table", {},
        h("tr", {}, h("th", {}, title), h("th", {}, "input"), h("th", {}, "score")),
        ...sorted.slice(0, DETAIL_ROWS).map((e) => h("tr", { attrs: { "data-edge": e.index } }, h("td", {}, other(e)), h("td", {}, e.edge.input ?? ""), h("td", {}, formatValue(e.edge.score)))),
        sorted.length > DETAIL_ROWS ? h("tr", {}, h("td", { class: "steer-note" }, `... ${sorted.length - DETAIL_ROWS} more`)) : null);
    };
    const lines = nodeLines(id);
    setChildren(details,
      h("div", { class: "steer-row" }, ...lines.map(([k, v]) => h("span", {}, h("span", { class: "steer-note" }, `${k} `), h("span", { class: "steer-tok" }, v)))),
      h("div", { class: "steer-row" },
        table("from (shown)", mine.filter((e) => e.edge.to === id), (e) => e.edge.from),
        table("to (shown)", mine.filter((e) => e.edge.from === id), (e) => e.edge.to)));
  }

  // --- header, controls, legend, exports
  // Wide graphs shrink to the output's width (an overview; hover still gives every score) unless asked not to.
  const graphBox = h("div", { class: "graph" }, graph as unknown as Node);
  const actualSize = h("vscode-checkbox", { class: "actual-size", attrs: { label: "Actual size" } });
  actualSize.addEventListener("change", () => graphBox.classList.toggle("actual-size", (actualSize as unknown as { checked: boolean }).checked));
  const metric = circuit.metric;
  const facts = [
    `method ${circuit.method}`,
    metric ? `metric ${metric.name}${metric.clean !== undefined ? ` (clean ${formatValue(metric.clean)}, corrupt ${formatValue(metric.corrupt ?? NaN)})` : ""}` : "",
    circuit.faithfulness !== undefined ? `faithfulness ${formatValue(circuit.faithfulness)}` : "",
  ].filter(Boolean);
  const status = h("div", { class: "export-status steer-note", attrs: { "aria-live": "polite" } });
  const exportRow = h("div", { class: "steer-row exports" }, h("span", { class: "steer-note" }, "Export:"));
  for (const format of CIRCUIT_EXPORT_FORMATS) {
    const button = h("vscode-button", { attrs: { secondary: true, "data-format": format, title: `Export the circuit as shown as ${FORMAT_LABEL[format]} next to the notebook` } }, FORMAT_LABEL[format]);
    button.addEventListener("click", () => void exportAs(format));
    exportRow.append(button);
  }
  async function exportAs(format: CircuitExportFormat): Promise<void> {
    if (!options.messages?.canPost) {
      status.textContent = "Exports need VS Code: this view cannot reach the kernel here.";
      return;
    }
    status.textContent = `Exporting ${FORMAT_LABEL[format]}...`;
    const answer = await options.messages.request(
      { type: "steer.export-circuit", requestId: newRequestId(), outputId: options.outputId, format, circuit: withShown(circuit, shown) },
      (m): m is ExportSaved => m.type === "steer.export-saved",
    );
    status.textContent = exportMessage(format, answer);
  }

  setChildren(root,
    h("h3", { class: "steer-title" }, circuit.title),
    h("div", { class: "steer-note" }, facts.join(" \u00b7 ")),
    circuit.reduced ? h("div", { class: "steer-note" }, `reduced: ${circuit.reduced}`) : null,
    h("div", { class: "steer-row" }, h("label", {}, "Edge threshold |score| \u2265 ", slider), thresholdText, counts, actualSize),
    legend(),
    graphBox,
    details,
    exportRow,
    status,
    tooltip.element);
  element.replaceChildren(root);
  // Signs in the heatmaps' colours (red positive, blue negative), for the theme now showing.
  const theme = readTheme(root);
  const palette = paletteFor(theme.kind, theme.bg);
  root.style.setProperty("--c-pos", css(palette.positive));
  root.style.setProperty("--c-neg", css(palette.negative));
  apply();
  select(undefined);
}

function exportMessage(format: CircuitExportFormat, answer: ExportSaved | NoAnswer): string {
  switch (answer.type) {
    case "steer.export-saved":
      return answer.outcome.ok ? `${FORMAT_LABEL[format]} saved: ${answer.outcome.path}` : `Export failed: ${answer.outcome.message}`;
    case "kernel-unavailable":
      return "No kernel is running for this notebook: run a cell first (the kernel writes the export).";
    case "timeout":
      return `No answer from the kernel after ${Math.round(answer.afterMs / 1000)} s.`;
    case "no-messaging":
      return "Exports need VS Code: this view cannot reach the kernel here.";
  }
}

function legend(): HTMLElement {
  const swatch = (cls: string) => {
    const s = svg("svg", { width: 18, height: 12 });
    s.append(svg("rect", { x: 1, y: 1, width: 16, height: 10, rx: 2 }));
    const g = svg("g", { class: `node ${cls}` });
    g.append(...s.childNodes);
    s.append(g);
    return s as unknown as Node;
  };
  const line = (cls: string) => {
    const s = svg("svg", { width: 30, height: 12 });
    s.append(svg("path", { class: `edge ${cls}`, d: "M1,6H29", "stroke-width": 2 }));
    return s as unknown as Node;
  };
  return h("div", { class: "steer-row legend steer-note" },
    ...(["input", "head", "mlp", "logits"] as const).map((k) => h("span", {}, swatch(k), ` ${k}`)),
    h("span", {}, line("pos"), " positive"),
    h("span", {}, line("neg"), " negative"),
    h("span", {}, line("pos q"), " into q"),
    h("span", {}, line("pos k"), " into k"),
    h("span", {}, line("pos v"), " into v"));
}
