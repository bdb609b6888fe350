/**
 * A colour legend: a gradient bar from the scale's minimum to its maximum with the ends (and zero on a
 * diverging scale) written as text, and what a value means beside it.
 */
import { css, type Scale } from "./colour";
import { formatValue, h } from "./dom";

const STOPS = 16;

export const LEGEND_CSS = `
.steer-legend { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; color: var(--steer-muted); }
.steer-legend .steer-legend-bar { width: 160px; height: 10px; border: 1px solid var(--steer-border); }
.steer-legend .steer-legend-end { font-family: var(--steer-mono); color: var(--steer-fg); }
`;

export function legend(scale: Scale, label: string): HTMLElement {
  const stops = Array.from({ length: STOPS + 1 }, (_, i) => css(scale.colour(scale.min + ((scale.max - scale.min) * i) / STOPS)));
  const bar = h("span", { class: "steer-legend-bar", style: { background: `linear-gradient(to right, ${stops.join(", ")})` } });
  return h("div", {
    class: "steer-legend",
    attrs: { "data-min": scale.min, "data-max": scale.max, "aria-label": `colour scale from ${formatValue(scale.min)} to ${formatValue(scale.max)}` },
  },
  h("span", { class: "steer-legend-end", attrs: { "data-end": "min" } }, formatValue(scale.min)),
  bar,
  h("span", { class: "steer-legend-end", attrs: { "data-end": "max" } }, formatValue(scale.max)),
  scale.kind === "diverging" ? h("span", {}, "(0 = background)") : null,
  h("span", { class: "steer-legend-label" }, label));
}
