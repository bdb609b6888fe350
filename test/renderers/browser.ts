/**
 * Browser harness for the notebook renderers: builds renderers/*.ts with esbuild (as scripts/build.mjs
 * does, into .tmp/renderer-bundles), opens a page in Debian's chromium through playwright-core, loads
 * one renderer module, calls its activate(context) with a context that records what the view posts
 * and can deliver the host's replies, renders payloads, and saves screenshots to .tmp/renderer-shots/.
 * Pages are served from a fake origin through request routing, so no port is opened.
 * tsx compiles test files with esbuild's keepNames, which wraps nested functions in `__name(...)`: a
 * function passed to page.evaluate must not define functions inside it (pass a string instead).
 *
 *   const b = await launch();               // once per test file; skip when chromiumSkip is a string
 *   const p = await b.open("heads", { theme: "dark", also: ["positions"] });
 *   const out = await p.render(payload);    // a Locator on the output element
 *   await p.render(other, { via: "positions" });
 *   await p.posted();                       // messages the view posted, oldest first
 *   await p.deliver({ type: "kernel-unavailable", request });
 *   await p.shot("heads-4x4");
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";
import { chromium, type Browser, type ConsoleMessage, type Locator, type Page } from "playwright-core";
import { VIEW_MIMES, type ViewKind } from "../../src/protocol/views";

export const repoRoot = path.resolve(import.meta.dirname, "../..");
const chromiumPath = "/usr/bin/chromium";
const bundleDir = path.join(repoRoot, ".tmp/renderer-bundles");
export const shotDir = path.join(repoRoot, ".tmp/renderer-shots");
const ORIGIN = "http://steer-renderers.test";

/** A reason to skip browser tests (a string), or false when chromium is there. */
export const chromiumSkip: string | false = existsSync(chromiumPath)
  ? false
  : `needs Debian's chromium at ${chromiumPath}: install it with "apt-get install chromium" (or run scripts/setup-e2e.sh)`;

let built: Promise<void> | undefined;

/** Builds every renderer entry once per process (browser ES modules, unminified, as npm run build). */
export function buildRenderers(): Promise<void> {
  built ??= (async () => {
    const entries = readdirSync(path.join(repoRoot, "renderers"))
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
      .map((f) => path.join(repoRoot, "renderers", f));
    await esbuild.build({
      entryPoints: entries,
      bundle: true,
      platform: "browser",
      target: "es2022",
      format: "esm",
      outdir: bundleDir,
      logLevel: "error",
      legalComments: "none",
    });
  })();
  return built;
}

export type HarnessTheme = "light" | "dark" | "high-contrast" | "none";

/** A few of VS Code's theme variables (Light+, Dark+, High Contrast), as its webviews define them. */
const THEMES: Record<Exclude<HarnessTheme, "none">, { body: string; vars: Record<string, string> }> = {
  light: {
    body: "vscode-light",
    vars: {
      "--vscode-editor-foreground": "#3b3b3b", "--vscode-editor-background": "#ffffff", "--vscode-descriptionForeground": "#717171",
      "--vscode-focusBorder": "#005fb8", "--vscode-widget-border": "#e5e5e5", "--vscode-editorHoverWidget-background": "#f8f8f8",
      "--vscode-editorHoverWidget-foreground": "#3b3b3b", "--vscode-editorHoverWidget-border": "#c8c8c8", "--vscode-button-background": "#005fb8",
      "--vscode-button-foreground": "#ffffff", "--vscode-font-family": "system-ui, sans-serif", "--vscode-editor-font-family": "monospace",
      "--vscode-editor-font-size": "13px", "--vscode-textCodeBlock-background": "#f2f2f2", "--vscode-errorForeground": "#f85149",
      "--vscode-foreground": "#3b3b3b", "--vscode-settings-checkboxBackground": "#f8f8f8", "--vscode-settings-checkboxBorder": "#cecece",
      "--vscode-settings-checkboxForeground": "#3b3b3b", "--vscode-button-secondaryBackground": "#e5e5e5", "--vscode-button-secondaryForeground": "#3b3b3b",
      "--vscode-settings-dropdownBackground": "#ffffff", "--vscode-settings-dropdownBorder": "#cecece", "--vscode-settings-dropdownForeground": "#3b3b3b",
      "--vscode-settings-dropdownListBorder": "#c8c8c8", "--vscode-list-activeSelectionBackground": "#e8e8e8", "--vscode-list-activeSelectionForeground": "#000000",
    },
  },
  dark: {
    body: "vscode-dark",
    vars: {
      "--vscode-editor-foreground": "#cccccc", "--vscode-editor-background": "#1f1f1f", "--vscode-descriptionForeground": "#9d9d9d",
      "--vscode-focusBorder": "#0078d4", "--vscode-widget-border": "#313131", "--vscode-editorHoverWidget-background": "#202020",
      "--vscode-editorHoverWidget-foreground": "#cccccc", "--vscode-editorHoverWidget-border": "#454545", "--vscode-button-background": "#0078d4",
      "--vscode-button-foreground": "#ffffff", "--vscode-font-family": "system-ui, sans-serif", "--vscode-editor-font-family": "monospace",
      "--vscode-editor-font-size": "13px", "--vscode-textCodeBlock-background": "#2b2b2b", "--vscode-errorForeground": "#f85149",
      "--vscode-foreground": "#cccccc", "--vscode-button-secondaryBackground": "#313131", "--vscode-button-secondaryForeground": "#cccccc",
    },
  },
  "high-contrast": {
    body: "vscode-high-contrast",
    vars: {
      "--vscode-editor-foreground": "#ffffff", "--vscode-editor-background": "#000000", "--vscode-descriptionForeground": "#ffffff",
      "--vscode-focusBorder": "#f38518", "--vscode-contrastBorder": "#6fc3df", "--vscode-editorHoverWidget-background": "#0c141f",
      "--vscode-editorHoverWidget-foreground": "#ffffff", "--vscode-editorHoverWidget-border": "#6fc3df", "--vscode-font-family": "system-ui, sans-serif",
      "--vscode-editor-font-family": "monospace", "--vscode-editor-font-size": "13px", "--vscode-errorForeground": "#f48771",
      "--vscode-foreground": "#ffffff", "--vscode-button-border": "#6fc3df", "--vscode-settings-checkboxBorder": "#6fc3df",
      "--vscode-settings-checkboxBackground": "#000000", "--vscode-settings-dropdownBackground": "#000000", "--vscode-settings-dropdownBorder": "#6fc3df",
    },
  },
};

function pageHtml(renderer: string, theme: HarnessTheme, also: string[]): string {
  const t = theme === "none" ? undefined : THEMES[theme];
  const vars = t ? Object.entries(t.vars).map(([k, v]) => `${k}: ${v};`).join(" ") : "";
  const bg = t ? "var(--vscode-editor-background)" : "#ffffff";
  return `<!doctype html><html><head><meta charset="utf-8"><style>html { ${vars} } body { margin: 8px; background: ${bg}; }</style></head>
<body class="${t?.body ?? ""}" data-vscode-theme-kind="${t?.body ?? ""}">
<script type="module">
  import * as mod from "${ORIGIN}/bundles/${renderer}.js";
  ${also.map((r, i) => `import * as also${i} from "${ORIGIN}/bundles/${r}.js";`).join("\n  ")}
  const listeners = new Set();
  window.__posted = [];
  const context = {
    postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
    onDidReceiveMessage: (fn) => { listeners.add(fn); return { dispose: () => listeners.delete(fn) }; },
  };
  if (new URLSearchParams(location.search).has("nomessaging")) { delete context.postMessage; delete context.onDidReceiveMessage; }
  window.__renderers = { ${JSON.stringify(renderer)}: mod.activate(context), ${also.map((r, i) => `${JSON.stringify(r)}: also${i}.activate(context)`).join(", ")} };
  window.__renderer = window.__renderers[${JSON.stringify(renderer)}];
  window.__deliver = (m) => { for (const fn of listeners) fn(m); };
  window.__render = (id, mime, payload, via) => {
    const el = document.createElement("div");
    el.id = id;
    el.className = "output";
    document.body.appendChild(el);
    window.__renderers[via].renderOutputItem({ id, mime, json: () => payload }, el);
  };
  window.__ready = true;
</script></body></html>`;
}

export interface OpenOptions {
  theme?: HarnessTheme;
  viewport?: { width: number; height: number };
  /** a context without postMessage, as in an HTML export or a VS Code without renderer messaging */
  noMessaging?: boolean;
  /** more renderers activated in the same page, as VS Code loads every renderer into one webview */
  also?: string[];
}

export class RendererPage {
  /** uncaught page errors and console errors, for tests to assert empty */
  readonly errors: string[] = [];
  /** console warnings */
  readonly warnings: string[] = [];
  private outputs = 0;

  constructor(readonly page: Page, readonly renderer: string) {
    page.on("pageerror", (e) => this.errors.push(`pageerror: ${e.message}`));
    page.on("console", (m: ConsoleMessage) => {
      if (m.type() === "error") this.errors.push(`console: ${m.text()}`);
      if (m.type() === "warning") this.warnings.push(m.text());
    });
  }

  /**
   * Renders `payload` as a new output, by this page's renderer or `via` (one of `also`); the mime
   * defaults to that renderer's view's. Returns the output element.
   */
  async render(payload: unknown, opts: { mime?: string; outputId?: string; via?: string } = {}): Promise<Locator> {
    const id = opts.outputId ?? `output-${++this.outputs}`;
    const via = opts.via ?? this.renderer;
    const kind = (Object.keys(VIEW_MIMES) as ViewKind[]).find((k) => k.toLowerCase() === via.replace(/-/g, ""));
    const mime = opts.mime ?? (kind ? VIEW_MIMES[kind] : "application/json");
    await this.page.evaluate(({ payload, mime, id, via }) => (globalThis as any).__render(id, mime, payload, via), { payload, mime, id, via });
    return this.page.locator(`[id="${id}"]`);
  }

  /** Messages the renderer posted, oldest first. */
  posted(): Promise<any[]> {
    return this.page.evaluate(() => (globalThis as any).__posted);
  }

  /** Waits until the renderer has posted more than `count` messages, and returns the newest. */
  async nextPosted(count: number, timeoutMs = 5000): Promise<any> {
    await this.page.waitForFunction((n) => (globalThis as any).__posted.length > n, count, { timeout: timeoutMs });
    const all = await this.posted();
    return all[all.length - 1];
  }

  /** Delivers a host -> renderer message, as the extension's broker would. */
  deliver(message: unknown): Promise<void> {
    return this.page.evaluate((m) => (globalThis as any).__deliver(m), message);
  }

  /** Saves a screenshot of `target` (default: the whole page) to .tmp/renderer-shots/<name>.png. */
  async shot(name: string, target?: Locator): Promise<string> {
    mkdirSync(shotDir, { recursive: true });
    const file = path.join(shotDir, `${name}.png`);
    if (target) await target.screenshot({ path: file });
    else await this.page.screenshot({ path: file, fullPage: true });
    return file;
  }

  close(): Promise<void> {
    return this.page.close();
  }
}

export class Harness {
  constructor(readonly browser: Browser) {}

  /** A fresh page with `renderer` (the file name in renderers/ without .ts) activated. */
  async open(renderer: string, opts: OpenOptions = {}): Promise<RendererPage> {
    for (const r of [renderer, ...(opts.also ?? [])]) {
      const file = path.join(bundleDir, `${r}.js`);
      if (!existsSync(file)) throw new Error(`no bundle ${file}: is there a renderers/${r}.ts?`);
    }
    const page = await this.browser.newPage({ viewport: opts.viewport ?? { width: 1000, height: 800 } });
    const rp = new RendererPage(page, renderer);
    await page.route(`${ORIGIN}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === "/index.html") return route.fulfill({ contentType: "text/html", body: pageHtml(renderer, opts.theme ?? "light", opts.also ?? []) });
      const m = /^\/bundles\/([\w.-]+\.js)$/.exec(url.pathname);
      if (m && existsSync(path.join(bundleDir, m[1]))) return route.fulfill({ contentType: "text/javascript", body: readFileSync(path.join(bundleDir, m[1])) });
      return route.fulfill({ status: 404, body: `not found: ${url.pathname}` });
    });
    await page.goto(`${ORIGIN}/index.html${opts.noMessaging ? "?nomessaging" : ""}`);
    await page.waitForFunction(() => (globalThis as any).__ready === true, undefined, { timeout: 10_000 });
    return rp;
  }

  close(): Promise<void> {
    return this.browser.close();
  }
}

/** Builds the bundles and starts chromium (headless). Call once per test file; close it in after(). */
export async function launch(): Promise<Harness> {
  await buildRenderers();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  return new Harness(browser);
}

/** A payload fixture from test/renderers/fixtures/<name>.json, whatever view it is for. */
export function loadFixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(path.join(repoRoot, "test/renderers/fixtures", `${name}.json`), "utf8")) as T;
}
