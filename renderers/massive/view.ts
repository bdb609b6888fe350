/**
 * Draws a MassiveView (Sun et al. 2024, "Massive activations in large language models") in four
 * parts: the per-layer top-1/2/3 and median magnitudes (line chart, log scale toggle), one layer's
 * token x channel magnitudes in 3-D with a layer picker (a 2-D heatmap where WebGL is unavailable),
 * the flagged entries as a table (click a row to show its layer; the current layer's rows and their
 * points are highlighted), and the attention sink over [layer, head].
 */
import { decodeTensor, type MassiveView } from "../../src/protocol/views";
import { css, lerp, paletteFor, type Rgb } from "../../webview/colour";
import { formatValue, h, setChildren, tokenLabel } from "../../webview/dom";
import { BASE_CSS, ensureStyle, parseCssColour, readTheme } from "../../webview/theme";
import { hasWebGL, Plotly, plotlyText, sceneText } from "./plotly";
import "@vscode-elements/elements/dist/vscode-checkbox/index.js";
import "@vscode-elements/elements/dist/vscode-option/index.js";
import "@vscode-elements/elements/dist/vscode-single-select/index.js";

const CSS = `
.steer-massive { --m-top1: var(--vscode-charts-red, #c72e2e); --m-top2: var(--vscode-charts-orange, #d18616);
  --m-top3: var(--vscode-charts-yellow, #bf8803); --m-mark: var(--vscode-charts-blue, #1a85ff); }
.steer-massive section { margin: 8px 0 14px; }
.steer-massive h4 { font-size: 1em; font-weight: 600; margin: 0 0 2px; }
.steer-massive .plot { width: 100%; min-width: 360px; }
.steer-massive table.flagged { border-collapse: collapse; font-family: var(--steer-mono); }
.steer-massive table.flagged th { color: var(--steer-muted); font-weight: normal; text-align: left; }
.steer-massive table.flagged th, .steer-massive table.flagged td { padding: 1px 10px 1px 0; }
.steer-massive table.flagged td.num { text-align: right; }
.steer-massive table.flagged tbody tr { cursor: pointer; }
.steer-massive table.flagged tbody tr:hover { background: var(--steer-hover-bg); }
.steer-massive table.flagged tbody tr.current { outline: 1px solid var(--m-mark); background: color-mix(in srgb, var(--m-mark) 14%, transparent); }
`;

const PLOT_CONFIG = { displaylogo: false, responsive: true } as const;
/** Rows of the flagged table shown before "... n more" (the 3-D view marks all of the layer's). */
const TABLE_ROWS = 200;

export interface MassiveViewHandle {
  /** resolves when every plot is drawn (the root then has data-ready="true") */
  readonly ready: Promise<void>;
}

/** Throws a message naming the problem when the payload's parts disagree in size. */
export function checkMassive(m: MassiveView): { nLayers: number; nPos: number; nChannels: number; nHeads: number } {
  if (!m || !Array.isArray(m.top1) || !m.magnitudes) throw new TypeError("massive view: expected top1, top2, top3, median, flagged and magnitudes (see MassiveView in src/protocol/views.ts).");
  const nLayers = m.top1.length;
  for (const k of ["top2", "top3", "median"] as const) {
    if (m[k]?.length !== nLayers) throw new TypeError(`massive view: ${k} has ${m[k]?.length} layers but top1 has ${nLayers}; give one value per layer in each.`);
  }
  const [l, p, c] = m.magnitudes.values.shape;
  const { tokens, channels } = m.magnitudes;
  if (m.magnitudes.values.shape.length !== 3 || l !== nLayers || p !== tokens.length || c !== channels.length) {
    throw new TypeError(`massive view: magnitudes.values has shape [${m.magnitudes.values.shape.join(", ")}]; expected [layer ${nLayers}, pos ${tokens.length} (tokens), channel ${channels.length} (channels)].`);
  }
  const nHeads = m.sink ? m.sink.shape[1] : 0;
  if (m.sink && (m.sink.shape.length !== 2 || m.sink.shape[0] !== nLayers)) {
    throw new TypeError(`massive view: sink has shape [${m.sink.shape.join(", ")}]; expected [layer ${nLayers}, head].`);
  }
  return { nLayers, nPos: p, nChannels: c, nHeads };
}

/** Frees the plots drawn in `element` (plotly keeps listeners and WebGL contexts until purged). */
export function purgePlots(element: HTMLElement): void {
  for (const div of element.querySelectorAll<HTMLElement>(".steer-massive .plot")) Plotly.purge(div);
}

export function renderMassive(element: HTMLElement, m: MassiveView): MassiveViewHandle {
  purgePlots(element);
  ensureStyle(document, "steer-base", BASE_CSS);
  ensureStyle(document, "steer-massive", CSS);
  const { nLayers, nPos, nChannels, nHeads } = checkMassive(m);
  const values = decodeTensor(m.magnitudes.values);
  const tokens = m.magnitudes.tokens;

  const root = h("div", { class: "steer-root steer-massive" });
  element.replaceChildren(root);
  const theme = readTheme(root);
  const palette = paletteFor(theme.kind, theme.bg);
  const cssVar = (name: string, fallback: Rgb) => css(parseCssColour(getComputedStyle(root).getPropertyValue(name), fallback));
  const colours = { top1: cssVar("--m-top1", [199, 46, 46]), top2: cssVar("--m-top2", [209, 134, 22]), top3: cssVar("--m-top3", [191, 136, 3]), mark: cssVar("--m-mark", [26, 133, 255]) };
  const axis = { color: css(theme.fg), gridcolor: css(lerp(theme.bg, theme.fg, 0.15)), zerolinecolor: css(lerp(theme.bg, theme.fg, 0.3)) };
  const baseLayout = { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: css(theme.fg), family: theme.mono, size: 11 }, margin: { l: 56, r: 16, t: 8, b: 40 }, autosize: true };
  const sequential = [[0, css(lerp(theme.bg, theme.fg, 0.08))], [1, css(palette.positive)]];
  const tokenTicks = tokens.map((t, i) => `${i} ${tokenLabel(t)}`);

  // --- 1. per-layer magnitudes
  const layers = Array.from({ length: nLayers }, (_, i) => i);
  const lines = h("div", { class: "plot massive-lines", style: { height: "260px" } });
  const logToggle = h("vscode-checkbox", { class: "log-scale", attrs: { label: "Log scale", checked: true } });
  logToggle.addEventListener("change", () => {
    const on = (logToggle as unknown as { checked: boolean }).checked;
    void Plotly.relayout(lines, { "yaxis.type": on ? "log" : "linear", "yaxis.dtick": on ? 1 : null } as never);
  });
  const line = (y: number[], name: string, color: string, dash?: string) => ({ type: "scatter", mode: "lines+markers", x: layers, y, name, line: { color, dash }, hovertemplate: `layer %{x}: %{y:.4g}<extra>${name}</extra>` });
  const drawLines = () => Plotly.newPlot(lines, [
    line(m.top1, "top 1", colours.top1),
    line(m.top2, "top 2", colours.top2),
    line(m.top3, "top 3", colours.top3),
    line(m.median, "median", css(theme.muted), "dot"),
  ] as never, { ...baseLayout, xaxis: { ...axis, title: { text: "layer" }, dtick: 1 }, yaxis: { ...axis, type: "log", dtick: 1, title: { text: `|${m.hook}|` } }, legend: { orientation: "h", y: 1.12 } } as never, PLOT_CONFIG);

  // --- 2. one layer in 3-D
  const webgl = hasWebGL();
  const cube = h("div", { class: "plot massive-3d", style: { height: webgl ? "420px" : `${Math.max(200, 18 * nPos + 80)}px` } });
  const picker = h("vscode-single-select", { class: "layer-picker", attrs: { "aria-label": "layer" } },
    ...layers.map((l) => h("vscode-option", { attrs: { value: String(l) } }, `layer ${l}`)));
  const layerOf = (l: number) => {
    const z: number[][] = [];
    for (let p = 0; p < nPos; p++) z.push(Array.from(values.subarray((l * nPos + p) * nChannels, (l * nPos + p + 1) * nChannels)));
    return z;
  };
  const cubeTraces = (l: number) => {
    const marks = m.flagged.filter((f) => f.layer === l && f.text === m.magnitudes.text);
    const channelIndex = new Map(m.magnitudes.channels.map((c, i) => [c, i]));
    const markText = marks.map((f) => plotlyText(`${tokenLabel(f.token)} (pos ${f.pos}), dim ${f.dim}: ${formatValue(f.value)}, ${formatValue(f.ratio)}x median`));
    if (!webgl) {
      return [
        { type: "heatmap", z: layerOf(l), x: m.magnitudes.channels, y: Array.from({ length: nPos }, (_, i) => i), colorscale: sequential, hovertemplate: "pos %{y}, channel %{x}: %{z:.4g}<extra></extra>" },
        { type: "scatter", mode: "markers", x: marks.map((f) => f.dim), y: marks.map((f) => f.pos), text: markText, hovertemplate: "%{text}<extra>flagged</extra>", marker: { symbol: "circle-open", size: 14, color: colours.mark, line: { width: 3 } }, name: "flagged" },
      ];
    }
    return [
      { type: "surface", z: layerOf(l), x: m.magnitudes.channels, y: Array.from({ length: nPos }, (_, i) => i), colorscale: sequential, showscale: false, hovertemplate: "pos %{y}, channel %{x}: %{z:.4g}<extra></extra>" },
      { type: "scatter3d", mode: "markers", x: marks.map((f) => m.magnitudes.channels[channelIndex.get(f.dim) ?? 0] ?? f.dim), y: marks.map((f) => f.pos), z: marks.map((f) => Math.abs(f.value)), text: markText, hovertemplate: "%{text}<extra>flagged</extra>", marker: { size: 6, color: colours.mark }, name: "flagged" },
    ];
  };
  const cubeLayout = (l: number) => webgl
    ? { ...baseLayout, margin: { l: 0, r: 0, t: 0, b: 0 }, showlegend: false, scene: {
        xaxis: { ...axis, title: { text: "channel" } },
        yaxis: { ...axis, title: { text: "token" }, tickvals: Array.from({ length: nPos }, (_, i) => i), ticktext: tokenTicks.map(sceneText) },
        zaxis: { ...axis, title: { text: `|value|, layer ${l}` } },
        aspectmode: "manual", aspectratio: { x: 1.5, y: 1, z: 0.7 }, camera: { eye: { x: 1.35, y: -1.55, z: 0.55 }, center: { x: 0, y: 0, z: -0.05 } } } }
    : { ...baseLayout, showlegend: false,
        xaxis: { ...axis, title: { text: `channel (layer ${l})` } },
        yaxis: { ...axis, automargin: true, autorange: "reversed", tickvals: Array.from({ length: nPos }, (_, i) => i), ticktext: tokenTicks.map(plotlyText) } };
  const tableBody = h("tbody");
  const showLayer = async (l: number) => {
    (picker as unknown as { value: string }).value = String(l);
    for (const tr of tableBody.querySelectorAll<HTMLElement>("tr[data-layer]")) tr.classList.toggle("current", Number(tr.dataset.layer) === l);
    await Plotly.react(cube, cubeTraces(l) as never, cubeLayout(l) as never, PLOT_CONFIG);
    cube.dataset.layer = String(l);
  };
  picker.addEventListener("change", () => void showLayer(Number((picker as unknown as { value: string }).value)));

  // --- 3. the flagged entries
  const rows = [...m.flagged].sort((a, b) => a.layer - b.layer || Math.abs(b.value) - Math.abs(a.value));
  for (const f of rows.slice(0, TABLE_ROWS)) {
    const tr = h("tr", { attrs: { "data-layer": f.layer, tabindex: 0, title: "Show this layer in 3-D" } },
      h("td", { class: "num" }, f.layer), h("td", { class: "num" }, f.pos), h("td", { class: "steer-tok" }, tokenLabel(f.token)),
      h("td", { class: "num" }, f.dim), h("td", { class: "num" }, formatValue(f.value)), h("td", { class: "num" }, `${formatValue(f.ratio)}x`));
    tr.addEventListener("click", () => void showLayer(f.layer));
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") void showLayer(f.layer);
    });
    tableBody.append(tr);
  }
  const flaggedPart = rows.length
    ? h("table", { class: "flagged" },
      h("thead", {}, h("tr", {}, ...["layer", "pos", "token", "dim", "value", "/ median"].map((t) => h("th", {}, t)))),
      tableBody,
      rows.length > TABLE_ROWS ? h("tfoot", {}, h("tr", {}, h("td", { class: "steer-note", attrs: { colspan: 6 } }, `... ${rows.length - TABLE_ROWS} more`))) : null)
    : h("div", { class: "steer-note" }, "No activation was flagged as massive.");

  // --- 4. the attention sink
  let drawSink = (): Promise<unknown> => Promise.resolve();
  let sinkPart: HTMLElement;
  if (m.sink) {
    const sink = decodeTensor(m.sink);
    const z = layers.map((l) => Array.from(sink.subarray(l * nHeads, (l + 1) * nHeads)));
    sinkPart = h("div", { class: "plot massive-sink", style: { height: `${Math.max(160, 28 * nLayers + 70)}px`, maxWidth: `${Math.max(320, 44 * nHeads + 140)}px` } });
    drawSink = () => Plotly.newPlot(sinkPart, [{ type: "heatmap", z, x: Array.from({ length: nHeads }, (_, i) => i), y: layers, colorscale: sequential, zmin: 0, hovertemplate: "a%{y}.h%{x}: %{z:.3f}<extra></extra>" }] as never,
      { ...baseLayout, xaxis: { ...axis, title: { text: "head" }, dtick: 1 }, yaxis: { ...axis, title: { text: "layer" }, dtick: 1, autorange: "reversed" } } as never, PLOT_CONFIG);
  } else {
    sinkPart = h("div", { class: "steer-note massive-sink" }, "No attention-sink data in this result.");
  }

  const firstFlagged = rows[0]?.layer;
  const start = firstFlagged ?? m.top1.indexOf(Math.max(...m.top1));
  setChildren(root,
    h("h3", { class: "steer-title" }, m.title),
    h("div", { class: "steer-note" }, `${m.hook}, ${nLayers} layers, ${nPos} tokens, ${nChannels} channels`),
    m.reduced ? h("div", { class: "steer-note" }, `reduced: ${m.reduced}`) : null,
    h("section", {}, h("div", { class: "steer-row" }, h("h4", {}, "Largest magnitudes per layer"), logToggle), lines),
    h("section", {}, h("div", { class: "steer-row" }, h("h4", {}, "Token x channel magnitudes"), picker,
      webgl ? null : h("span", { class: "steer-note" }, "(WebGL is unavailable here: a 2-D heatmap instead of 3-D)")), cube),
    h("section", {}, h("h4", {}, `Flagged entries (${rows.length})`), flaggedPart),
    h("section", {}, h("h4", {}, "Attention sink: attention to the flagged tokens, mean over queries"), sinkPart));

  // Plotly sizes a plot from its element, so plots start once the view is in the page.
  const ready = Promise.all([drawLines(), drawSink(), showLayer(start)]).then(() => {
    root.dataset.ready = "true";
  });
  return { ready };
}
