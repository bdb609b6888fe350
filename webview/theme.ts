/**
 * VS Code's theme in the views: the CSS every view shares, written against VS Code's theme variables
 * (with fallbacks, so a self-contained HTML export outside VS Code still looks right), and the same
 * colours read back as concrete values for what CSS cannot reach (canvas painting, colour scales).
 */
import { luminance, type Rgb, type ThemeKind } from "./colour";

export type { ThemeKind };

/** Our names for the theme colours; every view's CSS uses these, never a literal colour. */
const VARS = `
  --steer-fg: var(--vscode-editor-foreground, #1f1f1f);
  --steer-bg: var(--vscode-notebook-outputContainerBackgroundColor, var(--vscode-editor-background, #ffffff));
  --steer-muted: var(--vscode-descriptionForeground, #616161);
  --steer-border: var(--vscode-contrastBorder, var(--vscode-widget-border, var(--vscode-panel-border, #d4d4d4)));
  --steer-focus: var(--vscode-focusBorder, #0090f1);
  --steer-hover-bg: var(--vscode-editorHoverWidget-background, #f3f3f3);
  --steer-hover-fg: var(--vscode-editorHoverWidget-foreground, #1f1f1f);
  --steer-hover-border: var(--vscode-editorHoverWidget-border, #c8c8c8);
  --steer-code-bg: var(--vscode-textCodeBlock-background, #f2f2f2);
  --steer-error: var(--vscode-errorForeground, #a1260d);
  --steer-font: var(--vscode-font-family, system-ui, sans-serif);
  --steer-mono: var(--vscode-editor-font-family, ui-monospace, monospace);
  --steer-font-size: var(--vscode-editor-font-size, 13px);
`;

export const BASE_CSS = `
.steer-root { ${VARS}
  font-family: var(--steer-font); font-size: var(--steer-font-size); color: var(--steer-fg);
  position: relative; max-width: 100%; overflow-x: auto; padding: 2px 0; }
.steer-root h3.steer-title { font-size: 1em; font-weight: 600; margin: 0 0 4px; }
.steer-root .steer-note { color: var(--steer-muted); margin: 2px 0; }
.steer-root .steer-error { color: var(--steer-error); margin: 2px 0; }
.steer-root .steer-tok { font-family: var(--steer-mono); white-space: pre; }
.steer-root .steer-row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 4px 0; }
.steer-root .steer-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.steer-root :focus-visible { outline: 1px solid var(--steer-focus); outline-offset: 1px; }
.steer-tooltip { position: fixed; z-index: 1000; pointer-events: none; padding: 4px 8px;
  background: var(--steer-hover-bg); color: var(--steer-hover-fg); border: 1px solid var(--steer-hover-border);
  font-family: var(--steer-font); font-size: 12px; line-height: 1.4; max-width: 360px; box-shadow: 0 2px 8px rgba(0,0,0,0.16); }
.steer-tooltip[hidden] { display: none; }
.steer-tooltip .steer-tip-key { color: var(--steer-muted); padding-right: 8px; }
.steer-tooltip .steer-tip-val { font-family: var(--steer-mono); white-space: pre; }
`;

/** Adds a <style> once per document (or shadow root), keyed by id. */
export function ensureStyle(root: Document | ShadowRoot, id: string, css: string): void {
  const host = root instanceof Document ? root.head ?? root.documentElement : root;
  if (host.querySelector(`style[data-steer-style="${id}"]`)) return;
  const style = document.createElement("style");
  style.dataset.steerStyle = id;
  style.textContent = css;
  host.appendChild(style);
}

/** Adds each (id, css) once to the document or shadow root `el` lives in. */
export function useStyles(el: Node, styles: Record<string, string>): void {
  const root = el.getRootNode();
  const target = root instanceof ShadowRoot ? root : document;
  for (const [id, css] of Object.entries(styles)) ensureStyle(target, id, css);
}

/** Which theme VS Code says is active (the classes it puts on the webview's body); light outside VS Code. */
export function themeKind(doc: Document = document): ThemeKind {
  const attr = doc.body?.getAttribute("data-vscode-theme-kind");
  const cls = doc.body?.classList;
  if (attr === "vscode-high-contrast-light" || cls?.contains("vscode-high-contrast-light")) return "high-contrast-light";
  if (attr === "vscode-high-contrast" || cls?.contains("vscode-high-contrast")) return "high-contrast";
  if (attr === "vscode-dark" || cls?.contains("vscode-dark")) return "dark";
  return "light";
}

export interface ThemeColours {
  kind: ThemeKind;
  fg: Rgb;
  bg: Rgb;
  muted: Rgb;
  border: Rgb;
  focus: Rgb;
  mono: string;
}

/** The theme's colours as RGB, resolved on `el` (a `.steer-root`, so our variables apply). */
export function readTheme(el: Element): ThemeColours {
  const style = getComputedStyle(el);
  const get = (name: string, fallback: Rgb) => parseCssColour(style.getPropertyValue(name), fallback);
  const kind = themeKind(el.ownerDocument);
  const fg = get("--steer-fg", [31, 31, 31]);
  const bgRaw = get("--steer-bg", [255, 255, 255]);
  // A transparent output background shows the editor's; guess it from the foreground's lightness.
  const bg: Rgb = style.getPropertyValue("--steer-bg").trim() === "transparent" ? (luminance(fg) > 0.5 ? [30, 30, 30] : [255, 255, 255]) : bgRaw;
  return {
    kind,
    fg,
    bg,
    muted: get("--steer-muted", [97, 97, 97]),
    border: get("--steer-border", [212, 212, 212]),
    focus: get("--steer-focus", [0, 144, 241]),
    mono: style.getPropertyValue("--steer-mono").trim() || "monospace",
  };
}

let probe: CanvasRenderingContext2D | null | undefined;

/** Any CSS colour as RGB (the canvas normalises it), or `fallback` when empty or unparseable. */
export function parseCssColour(text: string, fallback: Rgb): Rgb {
  const t = text.trim();
  if (!t) return fallback;
  probe ??= document.createElement("canvas").getContext("2d");
  if (!probe) return fallback;
  probe.fillStyle = "#010203";
  probe.fillStyle = t;
  const v = String(probe.fillStyle);
  if (v === "#010203" && t !== "#010203") return fallback;
  if (v.startsWith("#")) return [parseInt(v.slice(1, 3), 16), parseInt(v.slice(3, 5), 16), parseInt(v.slice(5, 7), 16)];
  const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : fallback;
}

/** Calls `fn` when VS Code switches theme (it changes the body's classes); returns the unsubscribe. */
export function onThemeChange(fn: () => void): { dispose(): void } {
  const body = document.body;
  if (!body || typeof MutationObserver === "undefined") return { dispose() {} };
  const obs = new MutationObserver(() => fn());
  obs.observe(body, { attributes: true, attributeFilter: ["class", "data-vscode-theme-kind"] });
  return { dispose: () => obs.disconnect() };
}
