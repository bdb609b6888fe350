/**
 * A custom plotly.js bundle for the massive-activations view: the core (with scatter, for the line
 * chart) and only the traces this view draws, so the renderer carries no unused plot types. Only
 * renderers/massive.ts imports this; each renderer is its own bundle, so no other view loads plotly.
 */
import "./global-shim";
import Plotly from "plotly.js/lib/core";
import heatmap from "plotly.js/lib/heatmap";
import scatter3d from "plotly.js/lib/scatter3d";
import surface from "plotly.js/lib/surface";

Plotly.register([heatmap, surface, scatter3d]);

export { Plotly };

/**
 * Plotly reads a few tags and entities in text (`<b>`, `<br>`, `<a href>`, `&lt;`); token strings are
 * data, so every one goes through this and plotly shows its characters.
 */
export function plotlyText(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/**
 * Text in 3-D scenes is drawn to WebGL (no DOM), and its renderer reads `<b>`, `<i>`, `<sub>`, `<sup>`
 * and `<br>` as styles but no entities; a zero-width space after every `<` keeps tokens literal there.
 */
export function sceneText(s: string): string {
  return s.replaceAll("<", "<\u200b");
}

/** Whether this page can draw WebGL (the 3-D traces need it); headless or locked-down pages may not. */
export function hasWebGL(): boolean {
  try {
    const canvas = document.createElement("canvas");
    return !!(canvas.getContext("webgl") ?? canvas.getContext("experimental-webgl"));
  } catch {
    return false;
  }
}
