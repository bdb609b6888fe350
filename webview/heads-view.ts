/**
 * The head heatmap (HeadsView): layers down, heads across, a diverging scale centred at zero; a
 * position picker for [layer, head, pos] values. A click patches that head through the kernel that
 * made the result, shift-click (or Space) builds a set patched together.
 */
import { headName, type HeadsView, type RerunTarget } from "../src/protocol/views";
import { divergingScale, paletteFor } from "./colour";
import { select } from "./controls";
import { append, formatValue, h, tokenLabel } from "./dom";
import { GRID_CSS, HeatGrid } from "./grid";
import { legend, LEGEND_CSS } from "./legend";
import { metricNote, stringsOf, tensorOf, viewHeader } from "./parts";
import { PANEL_CSS, PatchPanel } from "./patch-panel";
import { PayloadError, type ViewEnv, type ViewHandle } from "./renderer";
import { onThemeChange, readTheme, useStyles } from "./theme";

export function renderHeads(root: HTMLElement, p: HeadsView, env: ViewEnv): ViewHandle {
  useStyles(root, { "steer-grid": GRID_CSS, "steer-legend": LEGEND_CSS, "steer-patch": PANEL_CSS });
  const withPos = Array.isArray(p.axes) && p.axes.length === 3;
  if (!Array.isArray(p.axes) || p.axes[0] !== "layer" || p.axes[1] !== "head" || (withPos && p.axes[2] !== "pos")) {
    throw new PayloadError(`axes must be ["layer", "head"] or ["layer", "head", "pos"], got ${JSON.stringify(p.axes)}`);
  }
  const { shape, data } = tensorOf("values", p.values, withPos ? [undefined, undefined, undefined] : [undefined, undefined]);
  const [nLayers, nHeads] = shape;
  const nPos = withPos ? shape[2] : 1;
  const tokens = withPos && p.tokens !== undefined ? stringsOf("tokens", p.tokens, nPos) : undefined;
  const valueLabel = String(p.valueLabel ?? "value");

  // [layer, head, pos] opens at the position with the largest effect.
  let pos = 0;
  if (withPos) {
    let best = -1;
    for (let i = 0; i < data.length; i++) {
      if (Math.abs(data[i]) <= best) continue;
      best = Math.abs(data[i]);
      pos = i % nPos;
    }
  }
  const value = (l: number, hd: number) => data[(l * nHeads + hd) * nPos + pos];
  const posText = (i: number) => (tokens ? `${i} ${tokenLabel(tokens[i])}` : String(i));

  const selected = new Set<string>();
  const key = (l: number, hd: number) => `${l},${hd}`;
  const selectedHeads = () => [...selected].map((k) => k.split(",").map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([layer, head]) => ({ layer, head }));
  const target = (heads: { layer: number; head: number }[]): RerunTarget => (withPos ? { heads, pos } : { heads });

  // The scale spans every position, so the colours mean the same when the picker moves.
  const theme0 = readTheme(root);
  let scale = divergingScale(data, paletteFor(theme0.kind, theme0.bg));
  const legendSlot = h("span", {}, legend(scale, valueLabel));

  const grid = new HeatGrid({
    rows: nLayers,
    cols: nHeads,
    rowLabels: Array.from({ length: nLayers }, (_, l) => `L${l}`),
    colLabels: Array.from({ length: nHeads }, (_, hd) => `H${hd}`),
    rowAxis: "layer",
    colAxis: "head",
    label: `${p.title}: ${valueLabel} per head, ${nLayers} layers by ${nHeads} heads`,
    value,
    colour: (v) => scale.colour(v),
    cellName: (l, hd) => headName(l, hd),
    tooltip: (l, hd) => [
      ["head", headName(l, hd)],
      ["layer", String(l)],
      ["head index", String(hd)],
      ...(withPos ? [["position", posText(pos)] as const] : []),
      [valueLabel, formatValue(value(l, hd))],
    ],
    isSelected: (l, hd) => selected.has(key(l, hd)),
    onActivate: (l, hd, { shift }) => {
      if (!panel) return;
      if (!shift) return void panel.run(target([{ layer: l, head: hd }]));
      if (selected.has(key(l, hd))) selected.delete(key(l, hd));
      else selected.add(key(l, hd));
      grid.paint();
      showSelection();
    },
  });

  const panel = p.rerun ? new PatchPanel({
    rerun: p.rerun,
    metric: p.metric,
    env,
    describe: (t) => `${(t.heads ?? []).map((x) => headName(x.layer, x.head)).join(" + ")}${t.pos !== undefined ? ` at position ${posText(t.pos)}` : ""}`,
    hint: "Click a head to patch it (Enter on the focused one); shift-click or Space adds it to a set patched together.",
  }) : undefined;
  const showSelection = () => {
    const heads = selectedHeads();
    panel?.setSelection(heads.map((x) => headName(x.layer, x.head)), heads.length ? target(heads) : undefined, () => {
      selected.clear();
      grid.paint();
      showSelection();
    });
  };

  const picker = withPos
    ? h("label", { class: "steer-row" }, "position",
      select(Array.from({ length: nPos }, (_, i) => ({ value: String(i), label: posText(i) })), String(pos), (v) => {
        pos = Number(v);
        grid.element.dataset.pos = String(pos);
        grid.paint();
        showSelection();
      }, "position"))
    : null;
  if (withPos) grid.element.dataset.pos = String(pos);

  append(root, viewHeader(p, metricNote(p.metric)), h("div", { class: "steer-row" }, picker, legendSlot), grid.element, panel?.element);
  grid.paint();

  const theme = onThemeChange(() => {
    const t = readTheme(root);
    scale = divergingScale(data, paletteFor(t.kind, t.bg));
    legendSlot.replaceChildren(legend(scale, valueLabel));
    grid.retheme();
  });
  return { dispose: () => (theme.dispose(), panel?.dispose()) };
}
