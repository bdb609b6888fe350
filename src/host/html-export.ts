/**
 * A notebook as one self-contained HTML page: markdown rendered, code and text escaped, images inline,
 * and every toolkit view drawn by its own renderer bundle (inlined, activated without messaging, so the
 * views say patching needs VS Code). Pure: the caller reads the bundles (renderer-bundles.ts).
 */
import MarkdownIt from "markdown-it";
import { ERROR_MIME, escapeHtml, isProgressOutput, STDERR_MIME, STDOUT_MIME, VIEW_MIMES, VIEW_RENDERERS, viewKindOf, type CellOutput, type NotebookData, type OutputItem, type ViewKind } from "../protocol";

export interface HtmlExportOptions {
  /** the page title when the notebook's metadata has none (e.g. the file name) */
  title?: string;
  /** the text of dist/renderers/<file> for each view kind the notebook shows (see viewsUsed) */
  bundles: Partial<Record<ViewKind, string>>;
}

// html: false so a notebook's markdown cannot inject HTML; markdown-it also refuses javascript: links.
const markdown = new MarkdownIt({ html: false, linkify: false });

/** The renderer bundle's file name in dist/renderers/ for a view kind ("steer-logit-lens" -> "logit-lens.js"). */
export function rendererFile(kind: ViewKind): string {
  return `${VIEW_RENDERERS[kind].replace(/^steer-/, "")}.js`;
}

/** The view kinds the notebook's outputs show, in a fixed order. */
export function viewsUsed(nb: NotebookData): ViewKind[] {
  const used = new Set<ViewKind>();
  for (const cell of nb.cells) for (const output of cell.outputs) {
    const kind = viewKindOf(shownItem(output)?.mime ?? "");
    if (kind) used.add(kind);
  }
  return (Object.keys(VIEW_MIMES) as ViewKind[]).filter((k) => used.has(k));
}

/** The notebook as one HTML document that needs no network. */
export function notebookToHtml(nb: NotebookData, options: HtmlExportOptions): string {
  const kinds = viewsUsed(nb);
  const missing = kinds.filter((k) => options.bundles[k] === undefined);
  if (missing.length) {
    throw new Error(`the HTML export needs the renderer bundles ${missing.map(rendererFile).join(", ")}: build them with "npm run build"`);
  }
  const metaTitle = nb.metadata.title;
  const title = typeof metaTitle === "string" && metaTitle.trim() ? metaTitle : options.title ?? "Notebook";
  const views = { count: 0 };
  const cells = nb.cells.map((cell) => {
    const body = cell.kind === "markdown"
      ? `<div class="markdown">${markdown.render(cell.source)}</div>`
      : `<pre class="code">${escapeHtml(cell.source)}</pre>`;
    const outputs = cell.outputs.map((o) => outputHtml(o, views)).join("\n");
    return `<section class="cell ${cell.kind}">\n${body}${outputs ? `\n<div class="outputs">\n${outputs}\n</div>` : ""}\n</section>`;
  });
  const scripts = kinds.map((k) => viewScript(k, options.bundles[k]!));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="steer-nb export">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body class="vscode-light">
<script>${THEME_SCRIPT}</script>
<main>
<h1 class="notebook-title">${escapeHtml(title)}</h1>
${cells.join("\n")}
</main>
${scripts.join("\n")}
</body>
</html>
`;
}

/** The item VS Code would show for an output: a view first, then the richest standard mime. */
function shownItem(output: CellOutput): OutputItem | undefined {
  const rank = (mime: string) => {
    if (viewKindOf(mime)) return 0;
    const i = SHOWN_ORDER.indexOf(mime);
    return i >= 0 ? i + 1 : SHOWN_ORDER.length + 1;
  };
  return [...output.items].sort((a, b) => rank(a.mime) - rank(b.mime))[0];
}

const SHOWN_ORDER = ["image/png", "image/svg+xml", "text/html", "text/markdown", "application/json", ERROR_MIME, STDERR_MIME, STDOUT_MIME, "text/plain"];

function outputHtml(output: CellOutput, views: { count: number }): string {
  // A progress bar's last state reads best as its text line: a sandboxed frame cannot fit its height to one line.
  const plain = isProgressOutput(output) ? output.items.find((i) => i.mime === "text/plain") : undefined;
  if (plain) return `<p class="output progress">${escapeHtml(String(plain.data))}</p>`;
  const item = shownItem(output);
  if (!item) return "";
  const kind = viewKindOf(item.mime);
  if (kind) {
    const id = `steer-view-${++views.count}`;
    return `<div class="output view" id="${id}" data-steer-view="${kind}"></div>\n<script type="application/json" id="${id}-payload">${jsonForScript(item.data)}</script>`;
  }
  switch (item.mime) {
    case "image/png":
      return `<div class="output"><img alt="image output" src="data:image/png;base64,${escapeHtml(String(item.data))}"></div>`;
    case "image/svg+xml":
      // as an <img>, so scripts inside the SVG never run
      return `<div class="output"><img alt="SVG output" src="data:image/svg+xml;base64,${Buffer.from(String(item.data), "utf8").toString("base64")}"></div>`;
    case "text/html":
      // a sandbox without allow-scripts: the output's HTML shows but cannot run code or reach this page
      return `<div class="output"><iframe class="html-output" sandbox srcdoc="${escapeHtml(String(item.data))}"></iframe></div>`;
    case "text/markdown":
      return `<div class="output markdown">${markdown.render(String(item.data))}</div>`;
    case "application/json":
      return `<pre class="output json">${escapeHtml(JSON.stringify(item.data, null, 2))}</pre>`;
    case ERROR_MIME: {
      const e = (item.data ?? {}) as { name?: unknown; message?: unknown; stack?: unknown };
      const text = typeof e.stack === "string" && e.stack ? e.stack : `${String(e.name ?? "Error")}: ${String(e.message ?? "")}`;
      return `<pre class="output error">${escapeHtml(text)}</pre>`;
    }
    case STDERR_MIME:
      return `<pre class="output stderr">${escapeHtml(String(item.data))}</pre>`;
    default:
      if (item.mime.startsWith("text/") || item.mime === STDOUT_MIME) return `<pre class="output text">${escapeHtml(String(item.data))}</pre>`;
      return `<p class="output note">(an output of type ${escapeHtml(item.mime)} that a page cannot show)</p>`;
  }
}

/** One module script per view kind: the renderer bundle, then a loop rendering that kind's outputs. */
function viewScript(kind: ViewKind, bundle: string): string {
  const { code, local } = moduleWithoutExports(bundle, rendererFile(kind));
  const run = `
const renderer = ${local}({});
for (const el of document.querySelectorAll('[data-steer-view="${kind}"]')) {
  const text = document.getElementById(el.id + "-payload").textContent;
  const data = JSON.parse(text);
  renderer.renderOutputItem({ id: el.id, mime: ${JSON.stringify(VIEW_MIMES[kind])}, json: () => data, text: () => text, data: new TextEncoder().encode(text) }, el);
}`;
  // Inside <script>, "</script" would end the element and "<!--" can change how the parser finds the end;
  // both only occur in string, template or regex literals of a bundle, where these escapes mean the same.
  const safe = (code + run).replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "\\x3C!--");
  return `<script type="module" data-steer-renderer="${kind}">\n${safe}\n</script>`;
}

/** The bundle with its final `export { ... }` and source map comment removed, and the local name of `activate`. */
function moduleWithoutExports(bundle: string, file: string): { code: string; local: string } {
  const m = /export\s*\{([^}]*)\}\s*;?\s*(\/\/# sourceMappingURL=\S*\s*)?$/.exec(bundle);
  const spec = m?.[1].split(",").map((s) => s.trim().split(/\s+as\s+/)).find((p) => (p[1] ?? p[0]) === "activate");
  if (!m || !spec) throw new Error(`${file} does not end with an export of activate, as the build writes renderer bundles; rebuild with "npm run build"`);
  return { code: bundle.slice(0, m.index), local: spec[0] };
}

/** JSON inside <script type="application/json">: every "<" escaped, so no string can close the element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value ?? null).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}


// Outside VS Code nothing sets the body's theme class, which the views read (webview/theme.ts themeKind);
// it runs first in the body, before the view modules.
const THEME_SCRIPT = `if (matchMedia("(prefers-color-scheme: dark)").matches) document.body.className = "vscode-dark";`;

// VS Code's Light+ and Dark+ values of the theme variables the views use (webview/theme.ts, the controls).
const LIGHT_VARS = `
  --vscode-foreground: #3b3b3b; --vscode-editor-foreground: #3b3b3b; --vscode-editor-background: #ffffff;
  --vscode-descriptionForeground: #717171; --vscode-focusBorder: #005fb8; --vscode-widget-border: #e5e5e5;
  --vscode-panel-border: #e5e5e5; --vscode-editorHoverWidget-background: #f8f8f8; --vscode-editorHoverWidget-foreground: #3b3b3b;
  --vscode-editorHoverWidget-border: #c8c8c8; --vscode-textCodeBlock-background: #f2f2f2; --vscode-errorForeground: #f85149;
  --vscode-button-background: #005fb8; --vscode-button-foreground: #ffffff; --vscode-button-secondaryBackground: #e5e5e5;
  --vscode-button-secondaryForeground: #3b3b3b; --vscode-settings-checkboxBackground: #f8f8f8; --vscode-settings-checkboxBorder: #cecece;
  --vscode-settings-checkboxForeground: #3b3b3b; --vscode-settings-dropdownBackground: #ffffff; --vscode-settings-dropdownBorder: #cecece;
  --vscode-settings-dropdownForeground: #3b3b3b; --vscode-settings-dropdownListBorder: #c8c8c8;
  --vscode-list-activeSelectionBackground: #e8e8e8; --vscode-list-activeSelectionForeground: #000000;
  --vscode-font-family: system-ui, sans-serif; --vscode-editor-font-family: ui-monospace, monospace; --vscode-editor-font-size: 13px;`;

const DARK_VARS = `
  --vscode-foreground: #cccccc; --vscode-editor-foreground: #cccccc; --vscode-editor-background: #1f1f1f;
  --vscode-descriptionForeground: #9d9d9d; --vscode-focusBorder: #0078d4; --vscode-widget-border: #313131;
  --vscode-panel-border: #2b2b2b; --vscode-editorHoverWidget-background: #202020; --vscode-editorHoverWidget-foreground: #cccccc;
  --vscode-editorHoverWidget-border: #454545; --vscode-textCodeBlock-background: #2b2b2b; --vscode-errorForeground: #f85149;
  --vscode-button-background: #0078d4; --vscode-button-foreground: #ffffff; --vscode-button-secondaryBackground: #313131;
  --vscode-button-secondaryForeground: #cccccc; --vscode-settings-checkboxBackground: #313131; --vscode-settings-checkboxBorder: #3c3c3c;
  --vscode-settings-checkboxForeground: #cccccc; --vscode-settings-dropdownBackground: #313131; --vscode-settings-dropdownBorder: #3c3c3c;
  --vscode-settings-dropdownForeground: #cccccc; --vscode-settings-dropdownListBorder: #454545;
  --vscode-list-activeSelectionBackground: #04395e; --vscode-list-activeSelectionForeground: #ffffff;`;

const PAGE_CSS = `
:root { color-scheme: light dark; ${LIGHT_VARS} }
@media (prefers-color-scheme: dark) { :root { ${DARK_VARS} } }
body { margin: 0; background: var(--vscode-editor-background); color: var(--vscode-editor-foreground);
  font-family: var(--vscode-font-family); font-size: 14px; line-height: 1.5; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
.cell { margin: 16px 0; }
pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); white-space: pre-wrap;
  overflow-wrap: anywhere; margin: 4px 0; }
pre.code { background: var(--vscode-textCodeBlock-background); border: 1px solid var(--vscode-widget-border); padding: 8px 12px; }
.outputs { border-left: 2px solid var(--vscode-widget-border); padding-left: 12px; margin-top: 6px; }
.output img { max-width: 100%; }
pre.error, pre.stderr { color: var(--vscode-errorForeground); }
p.output.progress { margin: 2px 0; font-size: 0.9em; opacity: 0.8; }
iframe.html-output { width: 100%; min-height: 120px; border: 1px solid var(--vscode-widget-border); background: #ffffff; }
.markdown code { font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); padding: 0 3px; }
.markdown pre code { display: block; padding: 8px 12px; }
a { color: var(--vscode-focusBorder); }
`;
