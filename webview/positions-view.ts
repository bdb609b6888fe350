/**
 * The positions heatmap (PositionsView): layers down, token positions across (token labels as text),
 * a diverging scale centred at zero. A click (or Enter) re-runs that [layer, pos] cell through the
 * kernel that made the result; the protocol patches one cell at a time, so there is no set here.
 */
import type { PositionsView } from "../src/protocol/views";
import { divergingScale, paletteFor } from "./colour";
import { append, formatValue, h, tokenLabel } from "./dom";
import { GRID_CSS, HeatGrid } from "./grid";
import { legend, LEGEND_CSS } from "./legend";
import { metricNote, stringsOf, tensorOf, viewHeader } from "./parts";
import { PANEL_CSS, PatchPanel } from "./patch-panel";
import { PayloadError, type ViewEnv, type ViewHandle } from "./renderer";
import { onThemeChange, readTheme, useStyles } from "./theme";

export function renderPositions(root: HTMLElement, p: PositionsView, env: ViewEnv): ViewHandle {
  useStyles(root, { "steer-grid": GRID_CSS, "steer-legend": LEGEND_CSS, "steer-patch": PANEL_CSS });
  if (!Array.isArray(p.axes) || p.axes[0] !== "layer" || p.axes[1] !== "pos" || p.axes.length !== 2) {
    throw new PayloadError(`axes must be ["layer", "pos"], got ${JSON.stringify(p.axes)}`);
  }
  const { shape, data } = tensorOf("values", p.values, [undefined, undefined]);
  const [nLayers, nPos] = shape;
  const tokens = stringsOf("tokens", p.tokens, nPos);
  const valueLabel = String(p.valueLabel ?? "value");
  const component = String(p.component ?? "");
  const value = (l: number, pos: number) => data[l * nPos + pos];
  const describeCell = (l: number, pos: number) => `${component ? `${component} ` : ""}layer ${l}, position ${pos} ${tokenLabel(tokens[pos])}`;

  let theme = readTheme(root);
  let scale = divergingScale(data, paletteFor(theme.kind, theme.bg));
  const legendSlot = h("span", {}, legend(scale, valueLabel));

  const panel = p.rerun ? new PatchPanel({
    rerun: p.rerun,
    metric: p.metric,
    env,
    describe: (t) => (t.cell ? describeCell(t.cell.layer, t.cell.pos) : "?"),
    hint: "Click a cell to patch that layer and position (Enter on the focused one).",
  }) : undefined;

  const grid = new HeatGrid({
    rows: nLayers,
    cols: nPos,
    rowLabels: Array.from({ length: nLayers }, (_, l) => `L${l}`),
    colLabels: tokens.map(tokenLabel),
    tokenCols: true,
    rowAxis: "layer",
    colAxis: "position",
    label: `${p.title}: ${valueLabel} of ${component || "the activation"}, ${nLayers} layers by ${nPos} positions`,
    value,
    colour: (v) => scale.colour(v),
    cellName: (l, pos) => `L${l} pos ${pos}`,
    tooltip: (l, pos) => [
      ["layer", String(l)],
      ["position", String(pos)],
      ["token", tokenLabel(tokens[pos])],
      ...(component ? [["component", component] as const] : []),
      [valueLabel, formatValue(value(l, pos))],
    ],
    onActivate: (l, pos) => void panel?.run({ cell: { layer: l, pos } }),
  });

  append(root, viewHeader(p, component ? `activation: ${component}` : undefined, metricNote(p.metric)), h("div", { class: "steer-row" }, legendSlot), grid.element, panel?.element);
  grid.paint();

  const watch = onThemeChange(() => {
    theme = readTheme(root);
    scale = divergingScale(data, paletteFor(theme.kind, theme.bg));
    legendSlot.replaceChildren(legend(scale, valueLabel));
    grid.retheme();
  });
  return { dispose: () => (watch.dispose(), panel?.dispose()) };
}
