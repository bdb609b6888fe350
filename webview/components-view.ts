/**
 * Signed per-component scores (ComponentsView, e.g. direct logit attribution): one horizontal bar per
 * component from a zero line, positive right in the diverging scale's positive colour, negative left.
 * Labels and values are text. Sorting by size is a toggle; very long lists show the largest first.
 */
import type { ComponentsView } from "../src/protocol/views";
import { css, divergingScale, maxAbs, paletteFor, type Scale } from "./colour";
import { toggle } from "./controls";
import { append, formatValue, h } from "./dom";
import { stringsOf, viewHeader } from "./parts";
import { PayloadError, type ViewEnv, type ViewHandle } from "./renderer";
import { onThemeChange, readTheme, useStyles } from "./theme";
import { Tooltip } from "./tooltip";

/** Rows drawn at most; the rest are summarised in a note (sorted by size, they are the smallest). */
export const MAX_BARS = 400;

const CSS = `
.steer-bars { display: inline-grid; grid-template-columns: auto minmax(200px, 480px) auto; gap: 1px 8px; align-items: center; font-size: 12px; }
.steer-bars .steer-bar-label { font-family: var(--steer-mono); white-space: pre; text-align: right; }
.steer-bars .steer-bar-track { position: relative; height: 14px; }
.steer-bars .steer-bar-track::before { content: ""; position: absolute; left: 50%; top: 0; bottom: 0; border-left: 1px solid var(--steer-border); }
.steer-bars .steer-bar { position: absolute; top: 2px; bottom: 2px; }
.steer-bars .steer-bar-value { font-family: var(--steer-mono); color: var(--steer-muted); }
`;

export function renderComponents(root: HTMLElement, p: ComponentsView, _env: ViewEnv): ViewHandle {
  useStyles(root, { "steer-components": CSS });
  const labels = stringsOf("labels", p.labels);
  if (!Array.isArray(p.values) || p.values.length !== labels.length || p.values.some((v) => typeof v !== "number" && v !== null)) {
    throw new PayloadError(`values must be an array of ${labels.length} numbers (one per label), got ${Array.isArray(p.values) ? `${p.values.length} entries` : typeof p.values}`);
  }
  // JSON has no NaN: a null stands for one.
  const values = p.values.map((v) => (v === null ? NaN : v));
  const valueLabel = String(p.valueLabel ?? "value");
  const m = maxAbs(values) || 1;
  let sorted = labels.length > MAX_BARS;

  const list = h("div", { class: "steer-bars", attrs: { "aria-label": `${p.title}: ${valueLabel} per component` } });
  const note = h("p", { class: "steer-note" });
  const tip = new Tooltip(root);
  let scale: Scale;

  const draw = () => {
    const t = readTheme(root);
    scale = divergingScale([-m, m], paletteFor(t.kind, t.bg));
    const order = labels.map((_, i) => i);
    if (sorted) order.sort((a, b) => (Math.abs(values[b]) || 0) - (Math.abs(values[a]) || 0));
    const shown = order.slice(0, MAX_BARS);
    list.replaceChildren(...shown.flatMap((i) => {
      const v = values[i];
      const half = Number.isFinite(v) ? (Math.min(1, Math.abs(v) / m) * 50) : 0;
      const bar = h("div", {
        class: "steer-bar",
        style: { left: v < 0 ? `${50 - half}%` : "50%", width: `${half}%`, background: css(scale.colour(v >= 0 ? m : -m)) },
      });
      return [
        h("span", { class: "steer-bar-label", attrs: { "data-label": labels[i], "data-value": v } }, labels[i]),
        h("div", { class: "steer-bar-track", attrs: { "data-index": i } }, bar),
        h("span", { class: "steer-bar-value" }, formatValue(v)),
      ];
    }));
    note.textContent = shown.length < labels.length ? `Showing the ${shown.length} largest of ${labels.length} components by |${valueLabel}|.` : "";
  };

  list.addEventListener("mousemove", (e) => {
    const track = (e.target as Element).closest?.(".steer-bar-track") as HTMLElement | null;
    if (!track) return tip.hide();
    const i = Number(track.dataset.index);
    tip.show([["component", labels[i]], [valueLabel, formatValue(values[i])]], e.clientX, e.clientY);
  });
  list.addEventListener("mouseleave", () => tip.hide());

  const sortToggle = labels.length > MAX_BARS
    ? null
    : toggle("sort by size", sorted, (on) => ((sorted = on), draw()), "sort");
  append(root, viewHeader(p, `${valueLabel}; bars are scaled to the largest |value|, ${formatValue(m)}`), h("div", { class: "steer-row" }, sortToggle), list, note);
  draw();
  const watch = onThemeChange(draw);
  return { dispose: () => watch.dispose() };
}
