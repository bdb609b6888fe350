// End to end in a real VS Code: code-server (VS Code's workbench and extension host) with the extension
// installed as a user installs it (the VSIX of scripts/package-vsix.mjs, through VS Code's own
// installer), driven through Debian's chromium by playwright-core (test/e2e/workbench.ts). What a person
// does and sees: a notebook's console, display and error outputs; a head heatmap whose click patches that
// head (renderer -> host -> kernel -> renderer); every sample as the VSIX ships it, run top to bottom on
// the bundled model through llama.cpp with every view drawn by its renderer; the README's picture; a
// circuit exported from its view; the notebook exported as HTML, drawing its views offline; the saved
// notebook reopened with its views; a model picked, and one downloaded from 127.0.0.1 (another cancelled)
// and loaded, the variables view with a tensor as a heatmap (test/e2e/models.ts); a corrupt file;
// interrupt (the kernel keeps its state), restart and a killed kernel; completions of the cell API in a
// cell. Each step leaves a screenshot in .tmp/e2e-artifacts/. scripts/setup-e2e.sh installs code-server
// and chromium; without them this test skips and says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { ERROR_MIME, VIEW_MIMES, type HeadsView, type NotebookData, type ViewKind } from "../../src/protocol/index";
import { checkModelsAndVariables, prepareModels } from "./models";
import { findViews, checkViewsDrawn, viewOutputCounts } from "./views";
import {
  artifactsDir, clickOnScreen, closeEditor, e2eSkip, extensionHostLog, frameTexts, frameWith, gatherWhileScrolling, installExtension,
  openFile, outputFrames, repoRoot, runAll, runCommand, saveActiveEditor, saveUntil, scrollIntoSight, scrollNotebook, shot, startWorkbench,
  statusBar, until, type Workbench,
} from "./workbench";

const fixtures = path.join(repoRoot, "test/fixtures/e2e");
/** The README's picture; written when STEER_UPDATE_DOCS_SCREENSHOT=1. */
const docsScreenshot = path.join(repoRoot, "docs/screenshot-indirect-object.png");
/** A sample runs every cell on a busy machine: sweeps, circuit discovery, gradients. */
const SAMPLE_MS = 3 * 60_000;
const SAMPLES = ["getting-started", "induction", "indirect-object", "massive-activations", "steering"] as const;
type Sample = (typeof SAMPLES)[number];

test("Steer notebooks in a real VS Code (code-server + chromium): samples, views, export, reopen, models, variables, interrupt", { skip: e2eSkip, timeout: 12 * 60_000 }, async () => {
  for (const f of ["dist/extension.js", "dist/kernel.js", "dist/renderers/heads.js", "dist/types/steer-nb.d.ts"]) {
    assert.ok(existsSync(path.join(repoRoot, f)), `${f} is missing: run npm run build first`);
  }
  // Outside the checkout, as a user's install is: nothing there can resolve a module from the repo's node_modules.
  const run = mkdtempSync(path.join(tmpdir(), "steer-e2e-"));
  const workspace = path.join(run, "workspace");
  const extensions = path.join(run, "extensions");
  const userData = path.join(run, "user-data");
  mkdirSync(workspace, { recursive: true });
  const installed = installExtension(run, extensions, userData);
  for (const name of ["hello.steer-nb", "broken.steer-nb", "loop.steer-nb", "crash.steer-nb"]) cpSync(path.join(fixtures, name), path.join(workspace, name));
  // The samples as the VSIX ships them.
  for (const name of SAMPLES) cpSync(path.join(installed, `samples/${name}.steer-nb`), path.join(workspace, `${name}.steer-nb`));
  const models = await prepareModels(run, workspace);
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
    "steer.modelsFolder": models.downloads,
  }));

  let wb: Workbench | undefined;
  let passed = false;
  try {
    wb = await startWorkbench(workspace, extensions, userData);
    const { page, browser } = wb;
    await checkHello(page, path.join(workspace, "hello.steer-nb"));
    await checkGettingStarted(page, workspace, userData, installed);
    for (const name of ["induction", "massive-activations", "steering"] as const) {
      await checkSample(page, workspace, name);
      await closeEditor(page, `${name}.steer-nb`);
    }
    const io = await checkSample(page, workspace, "indirect-object");
    await makeReadmePicture(page);
    await checkHtmlExport(page, browser, workspace);
    await checkReopen(page, io);
    await checkModelsAndVariables(page, models);
    await checkCorruptFile(page, path.join(workspace, "broken.steer-nb"));
    await checkInterruptAndRestart(page, userData);
    await checkKernelDeath(page);
    await checkCellCompletions(page);
    passed = true;
  } catch (e) {
    if (wb) await shot(wb.page, "failure").catch(() => undefined);
    (e as Error).message += `\n(logs and the install kept in ${run})\n--- extension host log ---\n${extensionHostLog(userData)}\n--- code-server output ---\n${wb?.serverLog().slice(-3000) ?? ""}`;
    throw e;
  } finally {
    await wb?.stop();
    await models.server.stop();
    // A failed run's folder stays for its logs; a passed one would leave the VSIX and its install behind.
    if (passed) rmSync(run, { recursive: true, force: true });
  }
});

/**
 * The first notebook: console lines in order, display() output, an error, a head heatmap whose click on the
 * planted name mover (layer 3, head 2) re-runs the sweep's own patch for that head alone, the kernel
 * state in the status bar, and the saved file.
 */
async function checkHello(page: Page, file: string): Promise<void> {
  await openFile(page, "hello.steer-nb");
  // The heading as the notebook draws it (in its webview): the outline and breadcrumbs hold hidden copies.
  await until("the markdown cell's heading drawn in the notebook", async () => {
    for (const f of await outputFrames(page)) if (await f.locator("h1", { hasText: "Hello from Steer" }).first().isVisible().catch(() => false)) return true;
    return false;
  });
  await runAll(page);

  // Console output streams into the cell; display() output and the error appear below their cells.
  const wantedTexts = ["hello from the kernel", "second line", "display says hi", "kernel pid", "boom from cell 5 (answer 42)"];
  const texts = await gatherWhileScrolling(page, "cell outputs in the output webview", (seen) => wantedTexts.every((w) => seen.includes(w)));
  assert.ok(texts.indexOf("hello from the kernel") < texts.indexOf("second line"), "console lines keep their order");

  const viewFrame = await until("the head heatmap (.steer-grid)", () => frameWith(page, ".steer-grid"));
  const grid = viewFrame.locator(".steer-grid").first();
  assert.equal(await grid.getAttribute("data-rows"), "4");
  assert.equal(await grid.getAttribute("data-cols"), "4");
  await clickNameMover(page, ".steer-grid canvas");

  const status = await until("the kernel state in the status bar", async () => {
    const t = await statusBar(page);
    return /Steer: idle/.test(t) ? t : undefined;
  });
  assert.match(status, /Steer: idle/);
  await shot(page, "01-hello");

  // Save, then read the file as the CLI would: outputs and execution order written, unknown fields kept.
  const saved = await saveUntil(page, file, "the saved notebook to contain the new outputs", (nb) => nb.cells[1].outputs.length > 0);
  checkSavedHello(saved);
  await closeEditor(page, "hello.steer-nb");
}

/** Clicks the name mover's cell of the heatmap at `canvas` and returns the patched metric the view shows. */
async function clickNameMover(page: Page, canvas: string): Promise<{ before: number; after: number }> {
  const frame = await scrollIntoSight(page, canvas, "the heatmap's name-mover cell");
  const cell = Number(await frame.locator(canvas).first().locator("xpath=ancestor::*[contains(@class,'steer-grid')][1]").getAttribute("data-cell"));
  await clickOnScreen(page, canvas, "the heatmap's name-mover cell", { x: 2.5 * cell, y: 3.5 * cell });
  const metric = await until("the patched metric in the view", async () => {
    const table = frame.locator(".steer-metric").first();
    return (await table.count()) ? { before: Number(await table.getAttribute("data-before")), after: Number(await table.getAttribute("data-after")) } : undefined;
  });
  assert.ok(metric.before < -10 && metric.after > 10, `patching a3.h2 restores the clean logit difference: expected before < -10 and after > 10, got ${JSON.stringify(metric)}`);
  assert.match(await frame.locator(".steer-top").last().innerText(), /Mary/, "the top token after the patch is the clean answer");
  return metric;
}

function checkSavedHello(nb: NotebookData): void {
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
  assert.equal(errorCell.outputs[0]?.items[0]?.mime, ERROR_MIME);
  // The cell after the failing one did not run: its old output, with unknown fields, is written back as read.
  assert.deepEqual(untouched.outputs, [
    { items: [{ mime: "application/vnd.code.notebook.stdout", data: "old output\n", futureItemField: [1] }], metadata: { stream: "stdout" }, futureOutputField: "y" },
    { items: [{ mime: "image/png", data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC" }] },
  ]);
}

/**
 * A sample as a person meets it: opened, Run All, every code cell saved with success and no error output,
 * every view output drawn by its renderer. Leaves the notebook open and saved; returns the saved file.
 */
async function checkSample(page: Page, workspace: string, name: Sample): Promise<NotebookData> {
  const file = path.join(workspace, `${name}.steer-nb`);
  const started = Date.now();
  await openFile(page, `${name}.steer-nb`);
  await runAll(page);
  // Saved until every code cell has an outcome, or one has failed (the cells after it do not run).
  const saved = await saveUntil(page, file, `every code cell of ${name} to finish and be saved with its outcome`, (nb) => {
    const code = nb.cells.filter((c) => c.kind === "code");
    return code.every((c) => c.execution) || code.some((c) => c.execution?.success === false);
  }, SAMPLE_MS);
  const code = saved.cells.filter((c) => c.kind === "code");
  const failed = code.flatMap((c, i) => (c.execution?.success === true ? [] : [`code cell ${i + 1}: ${c.execution ? "failed" : "did not run"} ${JSON.stringify(c.outputs).slice(0, 400)}`]));
  assert.deepEqual(failed, [], `${name}: expected every code cell to run with success`);
  const errors = code.flatMap((c) => c.outputs.flatMap((o) => o.items)).filter((i) => i.mime === ERROR_MIME);
  assert.deepEqual(errors, [], `${name}: expected no error output`);
  assert.ok(code.every((c) => c.outputs.length > 0), `${name}: expected every code cell to show something`);
  const ran = Date.now();
  const drawn = await checkViewsDrawn(page, saved, name, `sample-${name}`);
  const views = [...drawn].map(([k, n]) => `${k} ${n}`).join(", ") || "none";
  const s = (a: number, b: number) => `${((b - a) / 1000).toFixed(0)} s`;
  console.log(`# ${name}: ${code.length} code cells ok in ${s(started, ran)}; views drawn in ${s(ran, Date.now())}: ${views}`);
  return saved;
}

/**
 * What a new user runs first: the sample's results as text and views, the circuit exported from its
 * view, the model the VSIX ships loaded through llama.cpp from the installed extension.
 */
async function checkGettingStarted(page: Page, workspace: string, userData: string, installed: string): Promise<void> {
  const saved = await checkSample(page, workspace, "getting-started");
  const wanted = [
    /logit\(" Mary"\) - logit\(" John"\) = 32\.\d\d/,
    /Head patching: z/,
    /a2\.h1 -23\.7, a1\.h0 -23\.3, a3\.h2 -18\.9/,
    /Circuit for logit\(" Mary"\) - logit\(" John"\)/,
    /Massive activations at hook_resid_post, 2 texts/,
  ];
  await gatherWhileScrolling(page, `the sample's results in the output webview (${wanted.join(", ")})`, (seen) => wanted.every((w) => w.test(seen)));
  const counts = viewOutputCounts(saved);
  for (const kind of ["heads", "circuit", "massive", "attention", "logitLens", "components"] as ViewKind[]) {
    assert.ok((counts.get(kind) ?? 0) > 0, `getting-started: expected a ${kind} view among its outputs, got ${[...counts.keys()].join(", ")}`);
  }

  // The circuit view's SVG button: the kernel exports, the host writes the file beside the notebook.
  const exported = path.join(workspace, "getting-started.cell12.circuit.svg");
  const circuitFrame = await clickOnScreen(page, 'vscode-button[data-format="svg"]', "the circuit view's SVG button");
  const svgText = await until(`the exported ${exported}`, () => (existsSync(exported) ? readFileSync(exported, "utf8") : undefined));
  assert.match(svgText, /<svg[\s\S]*a3\.h2[\s\S]*<\/svg>/, "the exported SVG draws the circuit's name mover");
  await until("the circuit view to say the SVG was saved", async () =>
    /SVG saved: .*getting-started\.cell12\.circuit\.svg/.test(await circuitFrame.locator(".export-status").first().innerText()));
  await shot(page, "getting-started-exported");

  const provenance = saved.cells.find((c) => c.kind === "code")?.outputs.flatMap((o) => o.items).find((i) => i.mime === "application/json")?.data as { path?: string } | undefined;
  assert.equal(provenance?.path, path.join(installed, "samples/models/toy-circuits.gguf"), "steer.load() loads the model the VSIX ships");
  // The addon's rpath also names the build machine's node_modules: the kernel must use the installed copies.
  const pid = await until("the sample's kernel pid in the Steer Kernel log", () =>
    /getting-started\.steer-nb: kernel idle \(pid (\d+)\)/.exec(extensionHostLog(userData, Infinity))?.[1]);
  const mapped = [...new Set(readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").map((l) => l.split(/\s+/)[5] ?? "").filter((f) => /steer_llama\.node|libllama|libggml/.test(f)))];
  assert.ok(mapped.some((f) => /\/libllama[^/]*\.so$/.test(f)), `the kernel did not load llama.cpp: ${mapped.join(", ")}`);
  assert.deepEqual(mapped.filter((f) => !f.startsWith(installed + path.sep)), [], "the kernel loaded native code from outside the installed extension");
  await saveActiveEditor(page);
  await closeEditor(page, "getting-started.steer-nb");
}

/**
 * The README's picture: the indirect-object sample's head heatmap after a click on the name mover, with
 * the patched metric beside it and no notification over it.
 */
async function makeReadmePicture(page: Page): Promise<void> {
  const canvas = '.steer-heads:has-text("Head patching: z") .steer-grid canvas';
  await clickNameMover(page, canvas);
  const frame = await scrollIntoSight(page, ".steer-metric", "the patched metric");
  // The view's top a third of the way down: the cell's code above it, the heatmap and the patch result below.
  const view = frame.locator('.steer-heads:has-text("Head patching: z")').first();
  await until("the heatmap placed for the picture", async () => {
    const box = await view.boundingBox();
    if (box && Math.abs(box.y - 330) < 40) return true;
    if (box) await scrollNotebook(page, box.y - 330);
    await page.waitForTimeout(300);
    return false;
  }, 30_000);
  await runCommand(page, "Notifications: Clear All Notifications");
  await page.keyboard.press("Escape");
  // The side bar shows the notebook's outline rather than the test's files; put back after the picture.
  const sections = [page.locator(".pane-header", { hasText: "workspace" }).first(), page.locator(".pane-header", { hasText: "Outline" }).first()];
  for (const header of sections) await header.click({ timeout: 5_000 });
  await page.mouse.move(5, 450);
  await until("no notification toast on screen", async () => (await page.locator(".notifications-toasts .notification-toast").count()) === 0);
  await page.waitForTimeout(1_000);
  const file = await shot(page, "indirect-object");
  if (process.env.STEER_UPDATE_DOCS_SCREENSHOT === "1") copyFileSync(file, docsScreenshot);
  for (const header of sections) await header.click({ timeout: 5_000 });
}

/**
 * "Steer: Export as HTML" through VS Code's save dialog (in code-server, the simple dialog: a quick input
 * with the path filled in), then the file in a fresh page with every request but the file itself aborted:
 * the views draw from the inlined renderers, nothing fails to load.
 */
async function checkHtmlExport(page: Page, browser: Browser, workspace: string): Promise<void> {
  const target = path.join(workspace, "indirect-object.html");
  await runCommand(page, "Steer: Export as HTML");
  const input = page.locator(".quick-input-widget input");
  await until(`the save dialog to offer ${target}`, async () => (await input.inputValue().catch(() => "")).endsWith("indirect-object.html"));
  await shot(page, "html-export-dialog");
  await page.keyboard.press("Enter");
  await until(`the exported ${target}`, () => existsSync(target));
  await until("the notification saying the notebook was exported", async () => (await page.locator(".notifications-toasts").innerText().catch(() => "")).includes("Exported indirect-object.html"));

  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  try {
    const offline = await context.newPage();
    const url = pathToFileURL(target).href;
    const blocked: string[] = [];
    const errors: string[] = [];
    await offline.route("**/*", (route) => {
      if (route.request().url() === url) return route.continue();
      blocked.push(route.request().url());
      return route.abort();
    });
    offline.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    offline.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
    offline.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    await offline.goto(url);
    const views = await until("the exported page's views to draw", async () => {
      const found = await findViews(offline);
      return found.length > 0 && found.every((v) => v.drawn || v.error) ? found : undefined;
    }, 30_000);
    await offline.screenshot({ path: path.join(artifactsDir, "html-export-page.png"), fullPage: true });
    const viewElements = await offline.evaluate<Record<string, number>>(`Object.fromEntries(["heads", "positions", "circuit"].map((k) => [k, document.querySelectorAll('[data-steer-view="' + k + '"]').length]))`);
    const drawnOf = (kind: string) => views.filter((v) => v.kind === kind && v.drawn).length;
    assert.deepEqual(views.filter((v) => v.error).map((v) => `${v.kind}: ${v.error}`), [], "a view of the exported page shows an error");
    for (const kind of ["heads", "positions", "circuit"]) {
      assert.ok(viewElements[kind] > 0 && drawnOf(kind) === viewElements[kind], `exported page: expected every ${kind} view drawn, got ${drawnOf(kind)} of ${viewElements[kind]}`);
    }
    assert.deepEqual(errors, [], "expected no page errors or failed loads in the exported page");
    assert.deepEqual(blocked, [], "expected no request but the file itself");
  } finally {
    await context.close();
  }
}

/** The saved notebook closed and opened again: its views draw from the file, with nothing run. */
async function checkReopen(page: Page, saved: NotebookData): Promise<void> {
  await saveActiveEditor(page);
  await closeEditor(page, "indirect-object.steer-nb");
  await until("the closed notebook's views to leave the screen", async () => (await frameWith(page, ".steer-root")) === undefined);
  await openFile(page, "indirect-object.steer-nb");
  const drawn = await checkViewsDrawn(page, saved, "indirect-object reopened", "indirect-object-reopened");
  assert.ok((drawn.get("heads") ?? 0) > 0, "the reopened notebook draws its head heatmap");
  await closeEditor(page, "indirect-object.steer-nb");
}

/** A corrupt file opens as VS Code's error editor with the parser's message, and is never written. */
async function checkCorruptFile(page: Page, file: string): Promise<void> {
  const before = readFileSync(file);
  await openFile(page, "broken.steer-nb", false);
  // VS Code's error editor says only "unexpected error"; the notification names the file, place and problem.
  await until("the corrupt-file notification", async () =>
    (await page.locator(".monaco-workbench").innerText()).includes('broken.steer-nb: cells[0].kind must be "code" or "markdown", got "cod".'));
  await shot(page, "corrupt-file");
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(1_000);
  assert.deepEqual(readFileSync(file), before, "the corrupt file was changed on disk");
}

/**
 * Interrupt stops a busy loop and drops the queued cell while the kernel and its state survive (a later
 * cell reads a variable defined before the loop); restart replaces the kernel process (a new pid in the
 * Steer Kernel log).
 */
async function checkInterruptAndRestart(page: Page, userData: string): Promise<void> {
  await openFile(page, "loop.steer-nb");
  await runAll(page);
  const looping = await until("the looping cell to print its pid", async () => /looping in pid (\d+)/.exec(await frameTexts(page))?.[1]);
  await until("the status bar to say busy", async () => (await statusBar(page)).includes("Steer: busy"));
  await runCommand(page, "Steer: Interrupt Kernel");
  await until("the interrupted error below the cell", async () => /interrupted/i.test(await frameTexts(page)));
  await until("the status bar to say idle after the interrupt", async () => (await statusBar(page)).includes("Steer: idle"));
  assert.ok(!(await frameTexts(page)).includes("must not run"), "the cell queued behind the interrupted one ran");

  // The last cell alone: focused by a click in its editor, run from the palette (in the browser, Ctrl+Enter
  // in a cell's editor inserts a line).
  await page.locator('.notebook-editor:visible .cell-editor-container .monaco-editor:has-text("state kept")').first().click();
  await runCommand(page, "Notebook: Execute Cell");
  await until("the cell after the interrupt to print the variable defined before the loop", async () => (await frameTexts(page)).includes("state kept: 42"));
  await shot(page, "interrupted");

  await runCommand(page, "Steer: Restart Kernel");
  const pids = await until("a second kernel pid for loop.steer-nb in the Steer Kernel log", () => {
    const found = [...extensionHostLog(userData, Infinity).matchAll(/loop\.steer-nb: kernel idle \(pid (\d+)\)/g)].map((m) => m[1]);
    const distinct = [...new Set(found)];
    return distinct.length >= 2 ? distinct : undefined;
  });
  assert.equal(pids[0], looping, "the first kernel is the one that ran the loop");
  assert.notEqual(pids[1], looping, "restart started a new kernel process");
  await shot(page, "restarted");
  await saveActiveEditor(page);
  await closeEditor(page, "loop.steer-nb");
}

/** A kernel killed mid-cell: the cell shows why, the queued cell does not run, the status bar says dead. */
async function checkKernelDeath(page: Page): Promise<void> {
  await openFile(page, "crash.steer-nb");
  await runAll(page);
  await until("the kernel-died error below the cell", async () => /exited unexpectedly/.test(await frameTexts(page)));
  await until("the status bar to say dead", async () => (await statusBar(page)).includes("Steer: dead"));
  assert.ok((await frameTexts(page)).includes("about to die"), "output sent before the death is kept");
  assert.ok(!(await frameTexts(page)).includes("must not run"), "the cell queued behind the dead kernel ran");
  await shot(page, "kernel-died");
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
  await shot(page, "completions");
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
