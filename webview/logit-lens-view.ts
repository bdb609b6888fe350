/**
 * The logit lens (LogitLensView): a table of layers down and positions across; each cell shows the
 * layer's top token at that position as text, coloured by its probability (or, when the payload names
 * a target token, optionally by the target's probability). Hover or focus a cell for its top tokens.
 */
import type { LogitLensView, TokenProb } from "../src/protocol/views";
import { css, paletteFor, sequentialScale, textOn, type Scale } from "./colour";
import { toggle } from "./controls";
import { append, formatValue, h, tokenLabel } from "./dom";
import { legend, LEGEND_CSS } from "./legend";
import { stringsOf, tensorOf, viewHeader } from "./parts";
import { PayloadError, type ViewEnv, type ViewHandle } from "./renderer";
import { onThemeChange, readTheme, useStyles } from "./theme";
import { Tooltip } from "./tooltip";

const CSS = `
.steer-lens { border-collapse: collapse; font-size: 12px; table-layout: fixed; }
.steer-lens col.steer-lens-layer { width: 96px; }
.steer-lens col.steer-lens-pos { width: 56px; }
.steer-lens th { font-weight: normal; color: var(--steer-muted); padding: 1px 4px; text-align: right; white-space: nowrap; }
.steer-lens thead th { font-family: var(--steer-mono); color: var(--steer-fg); white-space: pre; text-align: center; max-width: 90px; overflow: hidden; text-overflow: ellipsis; }
.steer-lens td { font-family: var(--steer-mono); white-space: pre; padding: 1px 4px; min-width: 40px; max-width: 90px; overflow: hidden; text-overflow: ellipsis; border: 1px solid var(--steer-bg); }
.steer-lens td:focus { outline: 2px solid var(--steer-focus); outline-offset: -2px; }
`;

/** Colour steps of the probability scale (fine enough that a step is under one RGB unit). */
const STEPS = 256;
let lensCounter = 0;

export function renderLogitLens(root: HTMLElement, p: LogitLensView, _env: ViewEnv): ViewHandle {
  useStyles(root, { "steer-legend": LEGEND_CSS, "steer-lens": CSS });
  const tokens = stringsOf("tokens", p.tokens);
  const layers = stringsOf("layers", p.layers);
  if (!Array.isArray(p.top) || p.top.length !== layers.length || p.top.some((row) => !Array.isArray(row) || row.length !== tokens.length)) {
    throw new PayloadError(`top must be [layer][pos] lists of tokens, ${layers.length} layers by ${tokens.length} positions`);
  }
  const target = p.target ? { token: String(p.target.token), probs: tensorOf("target.probs", p.target.probs, [layers.length, tokens.length]).data } : undefined;
  const top = (l: number, pos: number): TokenProb[] => (Array.isArray(p.top[l][pos]) ? p.top[l][pos] : []);
  let byTarget = false;
  let scale: Scale;

  const tip = new Tooltip(root);
  // Cells are coloured through 256 shared class rules (one per probability step) rather than inline
  // styles: a large lens (80 x 64 cells) then styles in one pass instead of one declaration per cell.
  const id = `steer-lens-${++lensCounter}`;
  const rules = h("style");
  const bucket = (v: number) => Math.round(Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0)) * (STEPS - 1));
  const cells: HTMLTableCellElement[][] = layers.map((_, l) => tokens.map((__, pos) => {
    const td = document.createElement("td");
    td.dataset.layer = String(l);
    td.dataset.pos = String(pos);
    const best = top(l, pos)[0];
    if (best) td.textContent = tokenLabel(best.token);
    return td;
  }));
  cells[0][0].tabIndex = 0;
  const colour = () => {
    const t = readTheme(root);
    scale = sequentialScale(0, 1, paletteFor(t.kind, t.bg));
    rules.textContent = Array.from({ length: STEPS }, (_, b) => {
      const bg = scale.colour(b / (STEPS - 1));
      return `.${id} td.p${b} { background: ${css(bg)}; color: ${css(textOn(bg))}; }`;
    }).join("\n");
    cells.forEach((row, l) => row.forEach((td, pos) => {
      td.className = `p${bucket(byTarget && target ? target.probs[l * tokens.length + pos] : (top(l, pos)[0]?.prob ?? 0))}`;
    }));
    legendSlot.replaceChildren(legend(scale, byTarget && target ? `P(${tokenLabel(target.token)})` : "probability of the top token"));
  };
  const legendSlot = h("span");

  const lines = (l: number, pos: number) => [
    ["layer", layers[l]] as const,
    ["position", `${pos} ${tokenLabel(tokens[pos])}`] as const,
    ...top(l, pos).map((t, i) => [`#${i + 1}`, `${tokenLabel(t.token)}  ${formatValue(t.prob)}`] as const),
    ...(target ? [[`P(${tokenLabel(target.token)})`, formatValue(target.probs[l * tokens.length + pos])] as const] : []),
  ] as [string, string][];
  const cellOf = (e: Event) => (e.target as Element).closest?.("td") as HTMLTableCellElement | null;
  // table-layout: fixed needs a definite width (the columns' sum).
  const table = h("table", { class: `steer-lens ${id}`, style: { width: `${96 + 56 * tokens.length}px` }, attrs: { role: "grid", "aria-label": `${p.title}: top token per layer and position` } },
    // Fixed column widths: the browser lays out a large table without measuring every cell.
    h("colgroup", {}, h("col", { class: "steer-lens-layer" }), ...tokens.map(() => h("col", { class: "steer-lens-pos" }))),
    h("thead", {}, h("tr", {}, h("th", {}, ""), ...tokens.map((t) => h("th", { attrs: { scope: "col" } }, tokenLabel(t))))),
    h("tbody", {}, ...cells.map((row, l) => h("tr", {}, h("th", { attrs: { scope: "row" } }, layers[l]), ...row))));
  table.addEventListener("mousemove", (e) => {
    const td = cellOf(e);
    if (!td) return tip.hide();
    tip.show(lines(Number(td.dataset.layer), Number(td.dataset.pos)), e.clientX, e.clientY);
  });
  table.addEventListener("mouseleave", () => tip.hide());
  table.addEventListener("focusin", (e) => {
    const td = cellOf(e);
    if (!td) return;
    const r = td.getBoundingClientRect();
    tip.show(lines(Number(td.dataset.layer), Number(td.dataset.pos)), r.right, r.bottom);
  });
  table.addEventListener("focusout", () => tip.hide());
  // One tab stop; arrow keys move between cells (roving tabindex).
  table.addEventListener("keydown", (e) => {
    const td = cellOf(e);
    if (!td) return;
    const l = Number(td.dataset.layer);
    const pos = Number(td.dataset.pos);
    const to = { ArrowUp: [l - 1, pos], ArrowDown: [l + 1, pos], ArrowLeft: [l, pos - 1], ArrowRight: [l, pos + 1] }[e.key];
    const next = to && cells[to[0]]?.[to[1]];
    if (!next) return;
    e.preventDefault();
    td.removeAttribute("tabindex");
    next.tabIndex = 0;
    next.focus();
  });

  const targetToggle = target ? toggle(`colour by P(${tokenLabel(target.token)})`, false, (on) => ((byTarget = on), colour()), "by-target") : null;
  append(root, rules, viewHeader(p, "rows: layers; columns: positions; each cell: the most probable next token there"),
    h("div", { class: "steer-row" }, targetToggle, legendSlot), table);
  colour();
  const watch = onThemeChange(colour);
  return { dispose: () => watch.dispose() };
}
