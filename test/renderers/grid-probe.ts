/**
 * Reads a painted heatmap (webview/grid.ts) back from the page: for every cell, the colour at its
 * centre on the canvas and the tooltip a pointer there gets (a mousemove dispatched at that point, so
 * the grid's own hit testing answers). Also where a cell is, for real pointer clicks.
 */
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";

export interface ProbedCell {
  row: number;
  col: number;
  rgb: [number, number, number];
  tip: [string, string][];
}

// A string, not a function: tsx's keepNames would wrap nested functions in __name(), which the page lacks.
const PROBE = `(sel) => {
  const grid = document.querySelector(sel);
  if (!grid) throw new Error("no grid at " + sel);
  const canvas = grid.querySelector("canvas");
  const rows = Number(grid.dataset.rows), cols = Number(grid.dataset.cols);
  const rect = canvas.getBoundingClientRect();
  const sx = canvas.width / rect.width, sy = canvas.height / rect.height;
  const img = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const tip = grid.querySelector(".steer-tooltip");
  const out = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const x = rect.left + (c + 0.5) * rect.width / cols, y = rect.top + (r + 0.5) * rect.height / rows;
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: x, clientY: y, bubbles: true }));
    const lines = tip.hidden ? [] : Array.from(tip.querySelectorAll("tr"), (tr) => Array.from(tr.children, (td) => td.textContent));
    const px = (Math.floor((y - rect.top) * sy) * canvas.width + Math.floor((x - rect.left) * sx)) * 4;
    out.push({ row: r, col: c, rgb: [img[px], img[px + 1], img[px + 2]], tip: lines });
  }
  canvas.dispatchEvent(new MouseEvent("mouseleave"));
  return out;
}`;

/** Every cell of the grid matched by `selector` (CSS, e.g. "#output-1 .steer-grid"), row-major. */
export function probeGrid(page: Page, selector: string): Promise<ProbedCell[]> {
  return page.evaluate(`(${PROBE})(${JSON.stringify(selector)})`) as Promise<ProbedCell[]>;
}

/** The centre of cell (row, col) in page coordinates, for page.mouse. */
export async function cellCentre(grid: Locator, row: number, col: number): Promise<{ x: number; y: number }> {
  const rows = Number(await grid.getAttribute("data-rows"));
  const cols = Number(await grid.getAttribute("data-cols"));
  const at = async () => {
    const box = await grid.locator("canvas").boundingBox();
    assert.ok(box, "the grid's canvas is not visible");
    return { x: box.x + ((col + 0.5) * box.width) / cols, y: box.y + ((row + 0.5) * box.height) / rows };
  };
  const first = await at();
  const view = grid.page().viewportSize()!;
  if (first.y >= 0 && first.y < view.height && first.x >= 0 && first.x < view.width) return first;
  // Scroll the cell to the middle of the viewport so a real pointer can reach it.
  await grid.page().evaluate(`window.scrollBy(${Math.round(first.x - view.width / 2)}, ${Math.round(first.y - view.height / 2)})`);
  return at();
}

export type Rgb = readonly [number, number, number];

/**
 * Asserts `got` is the colour a diverging scale centred at zero gives `v` on [-m, m]: `neutral` at
 * zero, `positive` or `negative` at the ends, linear in between (within 1 per channel for rounding).
 */
export function assertDiverging(got: Rgb, v: number, m: number, ends: { neutral: Rgb; positive: Rgb; negative: Rgb }, where: string): void {
  const t = Math.max(-1, Math.min(1, v / m));
  const end = t >= 0 ? ends.positive : ends.negative;
  const want = ends.neutral.map((n, i) => n + (end[i] - n) * Math.abs(t));
  const off = got.some((g, i) => Math.abs(g - want[i]) > 1);
  assert.ok(!off, `${where}: value ${v} on [-${m}, ${m}] should paint rgb(${want.map((x) => x.toFixed(0)).join(", ")}), got rgb(${got.join(", ")})`);
}

/** Asserts a tooltip's number (3 significant digits) stands for `v`. */
export function assertShown(text: string | undefined, v: number, where: string): void {
  const shown = Number(text);
  assert.ok(text !== undefined && Number.isFinite(shown), `${where}: expected a number in the tooltip, got ${JSON.stringify(text)}`);
  const tol = Math.max(Math.abs(v) * 5e-3, 1e-9);
  assert.ok(Math.abs(shown - v) <= tol, `${where}: tooltip shows ${text}, expected about ${v}`);
}
