/**
 * A heatmap grid painted on one <canvas> (fast at 80 x 64 cells and beyond), with its row and column
 * labels as text and the cells exposed as an ARIA grid: the grid holds focus and points
 * (aria-activedescendant) at one gridcell element that moves with the active cell (a sparse grid:
 * aria-rowcount/colcount give the size, aria-rowindex/colindex the place). Arrow keys, Home/End and
 * PageUp/PageDown move; Enter activates; Space or shift-click activates with `shift` (set building).
 * Hover shows a tooltip. Tests find cells from the data-* attributes of the grid element.
 */
import { css, lerp, type Rgb } from "./colour";
import { h, setChildren } from "./dom";
import { readTheme, type ThemeColours } from "./theme";
import { Tooltip, type TooltipLine } from "./tooltip";

export interface GridOptions {
  rows: number;
  cols: number;
  rowLabels: string[];
  colLabels: string[];
  /** axis names shown in the corner, e.g. "layer" and "head" */
  rowAxis: string;
  colAxis: string;
  /** column labels are token strings (monospace, whitespace kept, written vertically) */
  tokenCols?: boolean;
  /** row labels are token strings (monospace, whitespace kept) */
  tokenRows?: boolean;
  /** the grid's accessible name */
  label: string;
  value(row: number, col: number): number;
  colour(value: number): Rgb;
  /** short name of a cell for screen readers and data-name, e.g. "a3.h2" */
  cellName(row: number, col: number): string;
  tooltip(row: number, col: number): TooltipLine[];
  isSelected?(row: number, col: number): boolean;
  /** a click, Enter, or (shift) Space on a cell */
  onActivate?(row: number, col: number, how: { shift: boolean }): void;
  /** largest cell edge in CSS pixels (default 36) */
  maxCell?: number;
  /** the widest the cells may get together, in CSS pixels (default 880) */
  maxWidth?: number;
}

export const GRID_CSS = `
.steer-grid { display: inline-grid; grid-template-columns: auto auto; grid-template-rows: auto auto; gap: 2px 4px; outline: none; }
.steer-grid .steer-corner { align-self: end; justify-self: end; font-size: 11px; color: var(--steer-muted); text-align: right; white-space: nowrap; }
.steer-grid .steer-collabels, .steer-grid .steer-rowlabels { display: flex; font-size: 11px; color: var(--steer-muted); }
.steer-grid .steer-collabels { align-items: flex-end; }
.steer-grid .steer-rowlabels { flex-direction: column; align-items: flex-end; }
.steer-grid .steer-collabels > span { text-align: center; overflow: hidden; white-space: pre; flex: none; }
.steer-grid .steer-collabels.steer-vertical > span { writing-mode: vertical-rl; transform: rotate(180deg); max-height: 90px; text-overflow: ellipsis; text-align: left; }
.steer-grid .steer-collabels.steer-tokens > span { font-family: var(--steer-mono); color: var(--steer-fg); }
.steer-grid .steer-rowlabels > span { flex: none; text-align: right; white-space: pre; padding-right: 2px; max-width: 160px; overflow: hidden; text-overflow: ellipsis; }
.steer-grid .steer-rowlabels.steer-tokens > span { font-family: var(--steer-mono); color: var(--steer-fg); }
.steer-grid .steer-canvas-wrap { position: relative; }
.steer-grid canvas { display: block; cursor: pointer; outline: 1px solid var(--steer-border); }
.steer-grid .steer-active { position: absolute; box-sizing: border-box; pointer-events: none; display: none; }
.steer-grid:focus .steer-active, .steer-grid:focus-within .steer-active { display: block; outline: 2px solid var(--steer-focus); outline-offset: 0; }
`;

let gridCounter = 0;

export class HeatGrid {
  readonly element: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly cell: number;
  private readonly activeEl: HTMLElement;
  private readonly tooltip: Tooltip;
  private theme?: ThemeColours;
  private row = 0;
  private col = 0;

  constructor(private readonly o: GridOptions) {
    const maxCell = o.maxCell ?? 36;
    const maxWidth = o.maxWidth ?? 880;
    this.cell = Math.max(6, Math.min(maxCell, Math.floor(maxWidth / Math.max(1, o.cols))));
    const cs = this.cell;
    const id = `steer-grid-${++gridCounter}`;
    const labelFont = `${Math.max(8, Math.min(12, cs - 2))}px`;

    this.canvas = h("canvas", { attrs: { "aria-hidden": "true" } });
    this.activeEl = h("div", { class: "steer-active", attrs: { role: "gridcell", id: `${id}-active` } });
    const row = h("div", { attrs: { role: "row" } }, this.activeEl);
    const wrap = h("div", { class: "steer-canvas-wrap" }, this.canvas, row);

    const vertical = o.tokenCols || o.colLabels.some((l) => l.length * 7 > cs);
    const colLabels = h("div", { class: `steer-collabels${vertical ? " steer-vertical" : ""}${o.tokenCols ? " steer-tokens" : ""}`, attrs: { "aria-hidden": "true" } },
      ...o.colLabels.map((l, c) => h("span", { attrs: { "data-col": c }, style: { width: `${cs}px`, fontSize: labelFont, lineHeight: `${cs}px` } }, l)));
    const rowLabels = h("div", { class: `steer-rowlabels${o.tokenRows ? " steer-tokens" : ""}`, attrs: { "aria-hidden": "true" } },
      ...o.rowLabels.map((l, r) => h("span", { attrs: { "data-row": r }, style: { height: `${cs}px`, lineHeight: `${cs}px`, fontSize: labelFont } }, l)));
    const corner = h("div", { class: "steer-corner", attrs: { "aria-hidden": "true" } }, `${o.rowAxis} \u2193 / ${o.colAxis} \u2192`);

    this.element = h("div", {
      class: "steer-grid",
      attrs: {
        role: "grid", tabindex: 0, "aria-label": o.label, "aria-rowcount": o.rows, "aria-colcount": o.cols,
        "aria-activedescendant": this.activeEl.id, "data-rows": o.rows, "data-cols": o.cols, "data-cell": cs,
      },
    }, corner, colLabels, rowLabels, wrap);

    this.tooltip = new Tooltip(this.element);
    this.listen();
  }

  /** Paints every cell; call again after values, colours or the selection change. */
  paint(): void {
    const { rows, cols } = this.o;
    const cs = this.cell;
    const dpr = window.devicePixelRatio || 1;
    const w = cols * cs;
    const hgt = rows * cs;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(hgt * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(hgt * dpr);
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${hgt}px`;
    }
    this.theme ??= readTheme(this.element.isConnected ? this.element : document.body);
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    // Gaps between cells (once they are big enough to spare 1px) show as faint grid lines.
    ctx.fillStyle = css(lerp(this.theme.bg, this.theme.border, 0.6));
    ctx.fillRect(0, 0, w, hgt);
    const gap = cs >= 12 ? 1 : 0;
    let last = "";
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const fill = css(this.o.colour(this.o.value(r, c)));
        if (fill !== last) ctx.fillStyle = last = fill;
        ctx.fillRect(c * cs, r * cs, cs - gap, cs - gap);
      }
    }
    if (this.o.isSelected) {
      ctx.strokeStyle = css(this.theme.fg);
      ctx.lineWidth = 2;
      const selected: string[] = [];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          if (!this.o.isSelected(r, c)) continue;
          ctx.strokeRect(c * cs + 1, r * cs + 1, cs - gap - 2, cs - gap - 2);
          selected.push(this.o.cellName(r, c));
        }
      }
      this.element.dataset.selected = selected.join(" ");
    }
    this.placeActive();
  }

  /** Reads the theme again (after VS Code switched it) and repaints. */
  retheme(): void {
    this.theme = undefined;
    this.paint();
  }

  /** The active (keyboard) cell. */
  get active(): { row: number; col: number } {
    return { row: this.row, col: this.col };
  }

  moveTo(row: number, col: number, showTip = true): void {
    this.row = Math.max(0, Math.min(this.o.rows - 1, row));
    this.col = Math.max(0, Math.min(this.o.cols - 1, col));
    this.placeActive();
    if (showTip) {
      const r = this.canvas.getBoundingClientRect();
      this.tooltip.show(this.o.tooltip(this.row, this.col), r.left + (this.col + 1) * this.cell, r.top + (this.row + 1) * this.cell);
    }
  }

  private placeActive(): void {
    const { row, col, cell: cs } = this;
    const a = this.activeEl;
    Object.assign(a.style, { left: `${col * cs}px`, top: `${row * cs}px`, width: `${cs}px`, height: `${cs}px` });
    a.parentElement!.setAttribute("aria-rowindex", String(row + 1));
    a.setAttribute("aria-colindex", String(col + 1));
    const name = this.o.cellName(row, col);
    const value = this.o.value(row, col);
    a.dataset.row = String(row);
    a.dataset.col = String(col);
    a.dataset.name = name;
    a.dataset.value = String(value);
    a.setAttribute("aria-selected", String(this.o.isSelected?.(row, col) ?? false));
    setChildren(a, h("span", { class: "steer-sr" }, this.o.tooltip(row, col).map(([k, v]) => `${k} ${v}`).join(", ")));
  }

  private cellAt(e: MouseEvent): { row: number; col: number } | undefined {
    const r = this.canvas.getBoundingClientRect();
    const col = Math.floor(((e.clientX - r.left) / r.width) * this.o.cols);
    const row = Math.floor(((e.clientY - r.top) / r.height) * this.o.rows);
    return row >= 0 && row < this.o.rows && col >= 0 && col < this.o.cols ? { row, col } : undefined;
  }

  private listen(): void {
    this.canvas.addEventListener("mousemove", (e) => {
      const at = this.cellAt(e);
      if (at) this.tooltip.show(this.o.tooltip(at.row, at.col), e.clientX, e.clientY);
      else this.tooltip.hide();
    });
    this.canvas.addEventListener("mouseleave", () => this.tooltip.hide());
    this.canvas.addEventListener("click", (e) => {
      const at = this.cellAt(e);
      if (!at) return;
      this.element.focus({ preventScroll: true });
      this.moveTo(at.row, at.col, false);
      this.o.onActivate?.(at.row, at.col, { shift: e.shiftKey });
    });
    this.element.addEventListener("blur", () => this.tooltip.hide());
    this.element.addEventListener("keydown", (e) => {
      const page = Math.max(1, Math.floor(this.o.rows / 4));
      const moves: Record<string, [number, number]> = {
        ArrowUp: [this.row - 1, this.col], ArrowDown: [this.row + 1, this.col],
        ArrowLeft: [this.row, this.col - 1], ArrowRight: [this.row, this.col + 1],
        Home: [this.row, 0], End: [this.row, this.o.cols - 1],
        PageUp: [this.row - page, this.col], PageDown: [this.row + page, this.col],
      };
      const move = moves[e.key];
      if (move) {
        e.preventDefault();
        this.moveTo(move[0], move[1]);
      } else if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        this.o.onActivate?.(this.row, this.col, { shift: e.key === " " || e.shiftKey });
      } else if (e.key === "Escape") {
        this.tooltip.hide();
      }
    });
  }
}
