/**
 * Attention patterns of one layer (AttentionView), as CircuitsVis shows them: every head as a small
 * multiple, one head large with tokens on both axes (queries down, keys across), and the text as a
 * token strip where hovering (or focusing) a token colours what it attends to (positive colour) and
 * what attends to it (negative colour).
 */
import { headName, type AttentionView } from "../src/protocol/views";
import { css, lerp, paletteFor, sequentialScale, type Palette, type Scale } from "./colour";
import { append, formatValue, h, tokenLabel } from "./dom";
import { GRID_CSS, HeatGrid } from "./grid";
import { legend, LEGEND_CSS } from "./legend";
import { stringsOf, tensorOf, viewHeader } from "./parts";
import { PayloadError, type ViewEnv, type ViewHandle } from "./renderer";
import { onThemeChange, readTheme, useStyles } from "./theme";

const CSS = `
.steer-heads-strip { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 8px; }
.steer-heads-strip .steer-mini { display: flex; flex-direction: column; align-items: center; gap: 2px; cursor: pointer; padding: 2px; border: 1px solid transparent; font-size: 11px; }
.steer-heads-strip .steer-mini[aria-pressed="true"] { border-color: var(--steer-focus); }
.steer-heads-strip canvas { outline: 1px solid var(--steer-border); }
.steer-text { display: flex; flex-wrap: wrap; gap: 1px; margin: 8px 0; max-width: 900px; }
.steer-text .steer-tok { padding: 1px 2px; border: 1px solid transparent; cursor: default; }
.steer-text .steer-tok[data-hovered] { border-color: var(--steer-fg); }
`;

/** Edge of a small multiple, in CSS pixels. */
const MINI = 96;

export function renderAttention(root: HTMLElement, p: AttentionView, _env: ViewEnv): ViewHandle {
  useStyles(root, { "steer-grid": GRID_CSS, "steer-legend": LEGEND_CSS, "steer-attention": CSS });
  const tokens = stringsOf("tokens", p.tokens);
  if (!Array.isArray(p.heads) || p.heads.some((x) => !Number.isInteger(x))) throw new PayloadError("heads must be an array of head indices");
  const n = tokens.length;
  const { data } = tensorOf("patterns", p.patterns, [p.heads.length, n, n]);
  const layer = Number(p.layer);
  const at = (hi: number, q: number, k: number) => data[(hi * n + q) * n + k];

  const theme = readTheme(root);
  let palette: Palette = paletteFor(theme.kind, theme.bg);
  let scale: Scale = sequentialScale(0, 1, palette);
  const retheme = () => {
    const t = readTheme(root);
    palette = paletteFor(t.kind, t.bg);
    scale = sequentialScale(0, 1, palette);
  };
  let current = 0;

  const minis = p.heads.map((head, hi) => {
    const canvas = h("canvas", { attrs: { "aria-hidden": "true" } });
    const el = h("div", {
      class: "steer-mini",
      attrs: { role: "button", tabindex: 0, "aria-pressed": String(hi === current), "data-head": head, "aria-label": `show ${headName(layer, head)} large` },
      on: {
        click: () => select(hi),
        keydown: (e) => {
          if (e.key !== "Enter" && e.key !== " ") return;
          e.preventDefault();
          select(hi);
        },
      },
    }, canvas, h("span", {}, headName(layer, head)));
    return { el, canvas };
  });

  const paintMini = (hi: number) => {
    const c = minis[hi].canvas;
    const cell = Math.max(1, Math.floor(MINI / Math.max(1, n)));
    const dpr = window.devicePixelRatio || 1;
    c.width = n * cell * dpr;
    c.height = n * cell * dpr;
    c.style.width = `${n * cell}px`;
    c.style.height = `${n * cell}px`;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) {
      ctx.fillStyle = css(scale.colour(at(hi, q, k)));
      ctx.fillRect(k * cell, q * cell, cell, cell);
    }
  };

  const grid = new HeatGrid({
    rows: n,
    cols: n,
    rowLabels: tokens.map(tokenLabel),
    colLabels: tokens.map(tokenLabel),
    tokenRows: true,
    tokenCols: true,
    rowAxis: "query",
    colAxis: "key",
    label: `attention pattern of layer ${layer}`,
    maxCell: 28,
    maxWidth: 640,
    value: (q, k) => at(current, q, k),
    colour: (v) => scale.colour(v),
    cellName: (q, k) => `query ${q} key ${k}`,
    tooltip: (q, k) => [
      ["head", headName(layer, p.heads[current])],
      ["query", `${q} ${tokenLabel(tokens[q])}`],
      ["key", `${k} ${tokenLabel(tokens[k])}`],
      ["attention", formatValue(at(current, q, k))],
    ],
  });

  // The text: hovering token i colours, for the large head, each j by i's attention to j (j <= i,
  // positive colour) or by j's attention to i (j > i, negative colour).
  const strip = h("div", { class: "steer-text", attrs: { "aria-label": "the text; hover or focus a token to see its attention" } },
    ...tokens.map((t, i) => h("span", { class: "steer-tok", attrs: { tabindex: 0, "data-pos": i } }, tokenLabel(t))));
  const tokEls = [...strip.children] as HTMLElement[];
  const highlight = (i: number | undefined) => {
    tokEls.forEach((el, j) => {
      if (i === undefined) {
        el.style.background = "";
        el.removeAttribute("data-hovered");
        el.removeAttribute("data-weight");
        el.title = "";
        return;
      }
      const w = j <= i ? at(current, i, j) : at(current, j, i);
      const towards = j <= i ? palette.positive : palette.negative;
      const ratio = Math.max(0, Math.min(1, w));
      el.style.background = css(lerp(palette.neutral, towards, ratio));
      el.dataset.weight = String(w);
      el.title = j <= i ? `${tokenLabel(tokens[i])} attends to this token: ${formatValue(w)}` : `this token attends to ${tokenLabel(tokens[i])}: ${formatValue(w)}`;
      if (j === i) el.dataset.hovered = "";
      else el.removeAttribute("data-hovered");
    });
    strip.dataset.hovered = i === undefined ? "" : String(i);
  };
  let hovered: number | undefined;
  const onToken = (e: Event) => {
    const pos = (e.target as HTMLElement).dataset?.pos;
    if (pos !== undefined) highlight((hovered = Number(pos)));
  };
  strip.addEventListener("mouseover", onToken);
  strip.addEventListener("focusin", onToken);
  strip.addEventListener("mouseleave", () => highlight((hovered = undefined)));

  const title = h("div", { class: "steer-note" });
  const select = (hi: number) => {
    current = hi;
    minis.forEach((m, j) => m.el.setAttribute("aria-pressed", String(j === hi)));
    title.textContent = `${headName(layer, p.heads[hi])}: queries down, keys across`;
    grid.element.dataset.head = String(p.heads[hi]);
    grid.paint();
    if (hovered !== undefined) highlight(hovered);
  };

  const legendSlot = h("span", {}, legend(scale, "attention weight"));
  append(root, viewHeader(p, `layer ${layer}, ${p.heads.length} heads, ${n} tokens`),
    h("div", { class: "steer-heads-strip" }, ...minis.map((m) => m.el)),
    h("div", { class: "steer-row" }, legendSlot), title, grid.element, strip);
  p.heads.forEach((_, hi) => paintMini(hi));
  select(0);

  const watch = onThemeChange(() => {
    retheme();
    legendSlot.replaceChildren(legend(scale, "attention weight"));
    p.heads.forEach((_, hi) => paintMini(hi));
    grid.retheme();
    if (hovered !== undefined) highlight(hovered);
  });
  return { dispose: () => watch.dispose() };
}
