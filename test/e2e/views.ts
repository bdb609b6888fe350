/**
 * Whether the toolkit's views drew: for each view kind, the root its renderer creates and an element that
 * exists only once the payload is drawn (a painted grid, a circuit's nodes, plotly's SVG). Used on the
 * output webviews of a real VS Code and on a page exported as HTML.
 */
import assert from "node:assert/strict";
import type { Frame, Page } from "playwright-core";
import { viewKindOf, type NotebookData, type ViewKind } from "../../src/protocol/index";
import { outputFrames, scrollWhile, shot, STEP_MS } from "./workbench";

export const VIEW_MARKERS: Record<ViewKind, { root: string; drawn: string }> = {
  heads: { root: ".steer-root.steer-heads", drawn: ".steer-grid canvas" },
  positions: { root: ".steer-root.steer-positions", drawn: ".steer-grid canvas" },
  components: { root: ".steer-root.steer-components", drawn: ".steer-bars .steer-bar-track" },
  attention: { root: ".steer-root.steer-attention", drawn: ".steer-heads-strip .steer-mini" },
  logitLens: { root: ".steer-root.steer-logitLens", drawn: "table.steer-lens tbody tr" },
  circuit: { root: ".steer-root.steer-circuit", drawn: "svg.graph-svg g.nodes g.node" },
  massive: { root: ".steer-root.steer-massive", drawn: ".massive-lines .main-svg" },
};

/** One view found in a document: its kind, the output holding it, whether it drew, the error it shows instead. */
export interface FoundView {
  kind: ViewKind | "unknown";
  holder: string;
  drawn: boolean;
  error: string;
}

/**
 * Run in the page (a string: tsx would wrap functions passed to evaluate in helpers the page lacks).
 * The holder is VS Code's output element (its id is the output's) or the exported page's view element.
 */
const FIND_VIEWS = `(() => {
  const markers = ${JSON.stringify(VIEW_MARKERS)};
  const found = [];
  for (const root of document.querySelectorAll(".steer-root")) {
    if (root.parentElement && root.parentElement.closest(".steer-root")) continue;
    const kind = Object.keys(markers).find((k) => root.matches(markers[k].root)) || "unknown";
    const holder = root.closest(".output, [data-steer-view]");
    const error = [...root.querySelectorAll(".steer-error")].map((e) => e.textContent).join(" ");
    found.push({ kind, holder: holder ? (holder.id || holder.getAttribute("data-steer-view")) : "", drawn: kind !== "unknown" && root.querySelector(markers[kind].drawn) !== null, error });
  }
  return found;
})()`;

export async function findViews(frame: Frame | Page): Promise<FoundView[]> {
  return frame.evaluate<FoundView[]>(FIND_VIEWS);
}

/** How many outputs of the notebook show each view (an output's view item is the one VS Code draws). */
export function viewOutputCounts(nb: NotebookData): Map<ViewKind, number> {
  const counts = new Map<ViewKind, number>();
  for (const cell of nb.cells) for (const output of cell.outputs) {
    const kind = output.items.map((i) => viewKindOf(i.mime)).find((k) => k !== undefined);
    if (kind) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

/**
 * Scrolls the visible notebook through (outputs below the fold render only when scrolled to) until every
 * view output of `nb` has drawn in an output webview, and fails on a view that shows an error or a cell
 * with the failed mark. Screenshots the page as the last view draws (`step`). Returns the drawn outputs per kind.
 */
export async function checkViewsDrawn(page: Page, nb: NotebookData, what: string, step: string, timeoutMs = STEP_MS): Promise<Map<ViewKind, number>> {
  const expected = viewOutputCounts(nb);
  const drawn = new Map<ViewKind, Set<string>>([...expected.keys()].map((k) => [k, new Set<string>()]));
  const errors = new Set<string>();
  let failedMarks = 0;
  const missing = () => [...expected].filter(([k, n]) => (drawn.get(k)?.size ?? 0) < n).map(([k, n]) => `${k} ${drawn.get(k)?.size ?? 0}/${n}`);
  try {
    await scrollWhile(page, `${what}: every view output drawn by its renderer`, async () => {
      failedMarks = Math.max(failedMarks, await page.locator(".notebook-editor:visible .codicon-notebook-state-error").count());
      for (const frame of await outputFrames(page)) {
        for (const v of await findViews(frame).catch(() => [])) {
          if (v.error) errors.add(`${v.kind}: ${v.error}`);
          else if (v.drawn && v.kind !== "unknown") drawn.get(v.kind)?.add(v.holder);
        }
      }
      if (errors.size > 0 || failedMarks > 0) return true;
      if (missing().length > 0) return false;
      await shot(page, step);
      return true;
    }, timeoutMs);
  } catch (e) {
    (e as Error).message += ` (drawn so far, per kind: ${missing().join(", ")})`;
    throw e;
  }
  assert.deepEqual([...errors], [], `${what}: a view shows an error instead of drawing`);
  assert.equal(failedMarks, 0, `${what}: a cell shows the failed mark`);
  return new Map([...drawn].map(([k, ids]) => [k, ids.size]));
}
