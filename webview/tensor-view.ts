/**
 * A tensor variable as a heatmap (TensorSliceView, drawn by the variables panel): the slice's rows down,
 * its columns across, a diverging scale centred at zero over the slice's values, and for a 3-D and up
 * tensor a stepper per leading axis that asks for the neighbouring slice.
 */
import { decodeTensor, type TensorSliceView } from "../src/protocol/views";
import { divergingScale, paletteFor } from "./colour";
import { button } from "./controls";
import { append, formatValue, h } from "./dom";
import { GRID_CSS, HeatGrid } from "./grid";
import { legend, LEGEND_CSS } from "./legend";
import { viewHeader } from "./parts";
import { PayloadError, type ViewHandle } from "./renderer";
import { onThemeChange, readTheme, useStyles } from "./theme";

export const TENSOR_CSS = `
.steer-root.steer-variable { --steer-bg: var(--vscode-editor-background, #ffffff); }
.steer-variable .steer-slice-stepper { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; margin: 4px 0; }
.steer-variable .steer-slice-axis { display: inline-flex; gap: 4px; align-items: center; }
.steer-variable .steer-slice-index { font-family: var(--steer-mono); min-width: 3ch; text-align: right; }
.steer-variable[data-state="loading"] .steer-grid { opacity: 0.6; }
.steer-variable[data-state="failed"] .steer-grid { opacity: 0.35; }
`;

/** The view asks its host for the slice at these leading indices (the panel posts VariableSliceRequest). */
export interface TensorViewEnv {
  requestSlice(slice: number[]): void;
}

/** Canvas height stays under this many CSS pixels (a canvas stops painting near 32k). */
const MAX_CANVAS_EDGE = 16_000;
/** About how far apart, in pixels, axis labels are written when cells are too small for one each. */
const LABEL_SPACING = 28;

export function renderTensorSlice(root: HTMLElement, p: TensorSliceView, env: TensorViewEnv): TensorViewHandle {
  useStyles(root, { "steer-grid": GRID_CSS, "steer-legend": LEGEND_CSS, "steer-tensor": TENSOR_CSS });
  const shape = numbers("shape", p.shape);
  const dims = Array.isArray(p.dims) && p.dims.length === shape.length ? p.dims.map(String) : shape.map((_, i) => `dim${i}`);
  const slice = numbers("slice", p.slice ?? []);
  const leading = Math.max(0, shape.length - 2);
  if (slice.length !== leading) throw new PayloadError(`slice must give ${leading} indices for shape [${shape.join(", ")}], got [${slice.join(", ")}]`);
  if (!p.values || !Array.isArray(p.values.shape) || p.values.shape.length !== 2) throw new PayloadError("values must be an encoded [rows, cols] tensor");
  let data: Float32Array;
  try {
    data = decodeTensor(p.values);
  } catch (e) {
    throw new PayloadError(`values: ${(e as Error).message}`);
  }
  const [rows, cols] = p.values.shape;
  const rowAxis = shape.length >= 2 ? dims[shape.length - 2] : "";
  const colAxis = shape.length >= 1 ? dims[shape.length - 1] : "value";
  const value = (r: number, c: number) => data[r * cols + c];
  const at = slice.map((k, i) => `${dims[i]} ${k}`).join(", ");

  root.classList.add("steer-variable");
  root.dataset.name = String(p.name ?? "");
  root.dataset.slice = slice.join(",");
  delete root.dataset.state;

  let theme = readTheme(root);
  let scale = divergingScale(data, paletteFor(theme.kind, theme.bg));
  const legendSlot = h("span", {}, legend(scale, "value"));

  const maxCell = Math.max(6, Math.min(36, Math.floor(MAX_CANVAS_EDGE / Math.max(1, rows))));
  const cellEstimate = Math.max(6, Math.min(maxCell, Math.floor(880 / Math.max(1, cols))));
  const labels = (n: number) => {
    const every = Math.ceil(LABEL_SPACING / cellEstimate);
    return Array.from({ length: n }, (_, i) => (i % every === 0 ? String(i) : ""));
  };
  const grid = new HeatGrid({
    rows,
    cols,
    rowLabels: labels(rows),
    colLabels: labels(cols),
    rowAxis: rowAxis || "row",
    colAxis,
    label: `${p.name}: ${rows} ${rowAxis || "row"} by ${cols} ${colAxis}${at ? ` at ${at}` : ""}`,
    value,
    colour: (v) => scale.colour(v),
    cellName: (r, c) => (shape.length >= 2 ? `[${[...slice, r, c].join(", ")}]` : `[${c}]`),
    tooltip: (r, c) => [
      ...slice.map((k, i) => [dims[i], String(k)] as const),
      ...(shape.length >= 2 ? [[rowAxis, String(r)] as const] : []),
      [colAxis, String(c)],
      ["value", formatValue(value(r, c))],
    ],
    maxCell,
  });

  const status = h("p", { class: "steer-note steer-slice-status", attrs: { role: "status" } });
  const stepper = leading ? h("div", { class: "steer-slice-stepper", attrs: { role: "group", "aria-label": "slice of the leading axes" } },
    ...slice.map((k, i) => {
      const go = (to: number) => {
        const next = [...slice];
        next[i] = to;
        root.dataset.state = "loading";
        for (const b of root.querySelectorAll<HTMLElement & { disabled: boolean }>(".steer-slice-stepper vscode-button")) b.disabled = true;
        status.textContent = `Loading ${dims[i]} ${to}…`;
        env.requestSlice(next);
      };
      const prev = button("\u2039", () => go(k - 1), { secondary: true, name: `prev-${i}`, title: `previous ${dims[i]}` });
      const next = button("\u203a", () => go(k + 1), { secondary: true, name: `next-${i}`, title: `next ${dims[i]}` });
      prev.disabled = k <= 0;
      next.disabled = k >= shape[i] - 1;
      return h("span", { class: "steer-slice-axis", attrs: { "data-axis": i } },
        h("span", {}, dims[i]), prev,
        h("span", { class: "steer-slice-index", attrs: { "data-axis": i } }, String(k)), next,
        h("span", { class: "steer-note" }, `of 0..${shape[i] - 1}`));
    })) : null;

  const shapeNote = `shape [${shape.join(", ")}], dims [${dims.join(", ")}]${at ? `; showing ${rowAxis} x ${colAxis} at ${at}` : ""}`;
  append(root, viewHeader(p, shapeNote), stepper, h("div", { class: "steer-row" }, legendSlot), grid.element, status);
  grid.paint();

  const watch = onThemeChange(() => {
    theme = readTheme(root);
    scale = divergingScale(data, paletteFor(theme.kind, theme.bg));
    legendSlot.replaceChildren(legend(scale, "value"));
    grid.retheme();
  });
  return {
    dispose: () => watch.dispose(),
    fail(message: string) {
      root.dataset.state = "failed";
      for (const b of root.querySelectorAll<HTMLElement & { disabled: boolean }>(".steer-slice-stepper vscode-button")) {
        const m = /^(prev|next)-(\d+)$/.exec(b.dataset.action ?? "");
        const i = Number(m?.[2]);
        b.disabled = m?.[1] === "prev" ? slice[i] <= 0 : slice[i] >= shape[i] - 1;
      }
      status.className = "steer-error steer-slice-status";
      status.textContent = message;
    },
  };
}

export interface TensorViewHandle extends ViewHandle {
  /** The host could not give the slice asked for (or the variable is gone): dim the grid, say why, let the stepper be used again. */
  fail(message: string): void;
}

function numbers(field: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || x < 0)) throw new PayloadError(`${field} must be an array of non-negative integers`);
  return v as number[];
}
