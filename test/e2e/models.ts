/**
 * Models in and out of a notebook, and the variables view, in a real VS Code: "Steer: Select Model" through
 * code-server's simple file dialog (a file that is not GGUF refused, a GGUF recorded in the notebook's
 * metadata), "Steer: Download Model" from a real HTTP server on 127.0.0.1 (one download cancelled midway
 * keeps whole pieces, another finishes and is used by the notebook, whose next steer.load() loads it), then
 * the kernel's variables in the Explorer view and a cached tensor opened as a heatmap panel.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { Frame, Page } from "playwright-core";
import { writeRandomModel } from "../../src/models";
import { ModelServer } from "../host/model-server";
import { closeEditor, frameTexts, openFile, outputFrames, runAll, runCommand, saveUntil, shot, statusBar, until } from "./workbench";

const MIB = 1024 * 1024;

export interface ModelFixtures {
  /** the notebook the steps run in */
  notebook: string;
  /** a small llama GGUF inside the workspace, picked with Select Model */
  picked: string;
  /** a text file named .gguf, refused by Select Model */
  notGguf: string;
  /** steer.modelsFolder: where downloads go */
  downloads: string;
  /** serves /finished.gguf (a small gpt2 model) and /big.gguf (about 27 MB, slowly: cancelled midway) */
  server: ModelServer;
  bigBytes: number;
}

/** Writes the models, the notebook and starts the server; the caller puts `steer.modelsFolder` in the settings and stops the server. */
export async function prepareModels(run: string, workspace: string): Promise<ModelFixtures> {
  const notebook = path.join(workspace, "models.steer-nb");
  const picked = path.join(workspace, "models/picked.gguf");
  mkdirSync(path.dirname(picked), { recursive: true });
  writeRandomModel(picked, { arch: "llama", layers: 3, heads: 4, kvHeads: 2, dModel: 64, dMlp: 96, seed: 4 });
  const notGguf = path.join(workspace, "notes.gguf");
  writeFileSync(notGguf, "not a model, only notes\n");
  const finished = path.join(run, "finished.gguf");
  writeRandomModel(finished, { arch: "gpt2", layers: 2, heads: 2, dModel: 64, dMlp: 128, seed: 9 });
  // More than five of the downloader's 5 MiB pieces, each connection served at 512 KiB/s: a cancel past 60%
  // keeps whole pieces, and leaves seconds to click before the download would finish.
  const big = path.join(run, "big.gguf");
  writeRandomModel(big, { arch: "llama", layers: 2, heads: 8, dModel: 512, dMlp: 2048, seed: 3 });
  const server = await new ModelServer({ "/finished.gguf": readFileSync(finished), "/big.gguf": readFileSync(big) }, MIB / 2).start();
  writeFileSync(notebook, JSON.stringify({
    format: "steer-nb/1",
    metadata: { title: "models", kept: { me: 1 } },
    cells: [{
      kind: "code",
      language: "typescript",
      source: [
        "const m = await steer.load(); // the notebook's model\n",
        "console.log(`loaded ${m.config.arch} with ${m.config.nLayers} layers`);\n",
        "const tokens = m.tokenize(\"Hello there, my friend\");\n",
        "const { logits, cache } = await m.runWithCache(tokens, { names: [\"blocks.0.attn.hook_pattern\"] });\n",
        "console.log(`logits ${logits.shape.join(\"x\")}, pattern ${cache.get(\"blocks.0.attn.hook_pattern\").shape.join(\"x\")}`);",
      ],
    }],
  }));
  return { notebook, picked, notGguf, downloads: path.join(run, "downloads"), server, bigBytes: statSync(big).size };
}

export async function checkModelsAndVariables(page: Page, fx: ModelFixtures): Promise<void> {
  await openFile(page, "models.steer-nb");
  await until("the status bar to show the opened notebook's state", async () => (await statusBar(page)).includes("Steer: no kernel"));
  await checkSelectModel(page, fx);
  await checkDownloads(page, fx);
  await checkVariables(page, fx.notebook);
}

function modelPathOf(nb: { metadata: Record<string, unknown> }): unknown {
  return (nb.metadata.steer as { model?: { path?: unknown } } | undefined)?.model?.path;
}

async function toastText(page: Page): Promise<string> {
  return page.locator(".notifications-toasts").innerText().catch(() => "");
}

/** Select Model's dialog (code-server's simple dialog, a quick input opened at the notebook's folder): types `file`, accepts. */
async function pickInSelectModel(page: Page, notebook: string, file: string): Promise<void> {
  await runCommand(page, "Steer: Select Model");
  const input = page.locator(".quick-input-widget input");
  await until("Select Model's dialog to open at the notebook's folder", async () => (await input.inputValue().catch(() => "")).endsWith(`${path.dirname(notebook)}/`));
  await input.fill(file);
  // The dialog reads the typed path back before it takes Enter as the answer.
  await page.waitForTimeout(800);
  await page.keyboard.press("Enter");
}

async function checkSelectModel(page: Page, fx: ModelFixtures): Promise<void> {
  await pickInSelectModel(page, fx.notebook, fx.notGguf);
  await until("the toast refusing a file that is not GGUF", async () => /is not a GGUF model file/.test(await toastText(page)));
  await shot(page, "select-model-refused");
  const unchanged = await saveUntil(page, fx.notebook, "the notebook saved after the refused pick", () => true);
  assert.equal(modelPathOf(unchanged), undefined, "a refused pick wrote a model into the notebook's metadata");

  await pickInSelectModel(page, fx.notebook, fx.picked);
  await until("the toast saying the notebook now uses picked.gguf", async () => /this notebook now uses picked/.test(await toastText(page)));
  await shot(page, "select-model-picked");
  const saved = await saveUntil(page, fx.notebook, "the picked model in the saved notebook's metadata", (nb) => modelPathOf(nb) !== undefined);
  assert.equal(modelPathOf(saved), "models/picked.gguf", "the notebook records the picked model relative to itself");
  assert.deepEqual(saved.metadata.kept, { me: 1 }, "the notebook's other metadata is kept");
}

/** "Steer: Download Model": the palette's input box takes the URL; the progress toast has Cancel. */
async function startDownload(page: Page, url: string): Promise<void> {
  await runCommand(page, "Steer: Download Model");
  const input = page.locator(".quick-input-widget input");
  await until("Download Model's input box", async () => (await page.locator(".quick-input-widget").innerText().catch(() => "")).includes("URL or Hugging Face address"));
  await input.fill(url);
  await page.keyboard.press("Enter");
}

async function checkDownloads(page: Page, fx: ModelFixtures): Promise<void> {
  // Cancelled midway: what arrived in whole pieces is kept for a resume.
  await startDownload(page, fx.server.url("/big.gguf"));
  const mib = await until("the progress toast past 60% of big.gguf", async () => {
    const m = /big\.gguf: ([\d.]+) MiB of ([\d.]+) MiB/.exec(await toastText(page));
    return m && Number(m[1]) >= 0.6 * Number(m[2]) ? Number(m[2]) : undefined;
  }, 120_000, 100);
  assert.equal(mib, Number((fx.bigBytes / MIB).toFixed(1)), "the progress toast names the file's size");
  await shot(page, "download-progress");
  await page.locator(".notifications-toasts .monaco-button", { hasText: "Cancel" }).first().click();
  const stopped = await until("the toast saying the download stopped", async () => {
    const t = await toastText(page);
    return t.includes("download stopped") ? t : undefined;
  });
  const kept = /([\d.]+) MiB kept in (\S+\.ipull)/.exec(stopped);
  assert.ok(kept, `expected the stopped toast to say what was kept, got: ${stopped}`);
  assert.ok(Number(kept[1]) >= 5, `expected at least one whole 5 MiB piece kept, got ${kept[1]} MiB`);
  assert.ok(existsSync(path.join(fx.downloads, "big.gguf.ipull")), `the partial download is not in ${fx.downloads}`);
  assert.ok(!existsSync(path.join(fx.downloads, "big.gguf")), "a cancelled download left a finished-looking big.gguf");
  await shot(page, "download-cancelled");

  // Finished, then used by this notebook: its next steer.load() loads it.
  await startDownload(page, fx.server.url("/finished.gguf"));
  const done = page.locator(".notifications-toasts .monaco-button", { hasText: "Use in this notebook" }).first();
  await until("the finished download's toast with its button", async () => (await done.count()) > 0, 120_000);
  const target = path.join(fx.downloads, "finished.gguf");
  assert.ok(existsSync(target), `the finished download is not at ${target}`);
  await shot(page, "download-finished");
  await done.click();
  await until("the toast saying the notebook now uses finished.gguf", async () => /this notebook now uses finished/.test(await toastText(page)));
  const saved = await saveUntil(page, fx.notebook, "the downloaded model in the saved notebook's metadata", (nb) => modelPathOf(nb) === target);
  assert.deepEqual(saved.metadata.kept, { me: 1 }, "the notebook's other metadata is kept");

  await runAll(page);
  await until("the cell to print the downloaded model's config", async () => (await frameTexts(page)).includes("loaded gpt2 with 2 layers"));
  await until("the status bar to name the loaded model", async () => /Steer: idle · finished \(gpt2 F32\)/.test(await statusBar(page)));
  await shot(page, "download-loaded");
}

/** The shapes the notebook's cell printed: logits [pos, vocab] and the cached pattern [head, query_pos, key_pos]. */
async function printedShapes(page: Page): Promise<{ logits: number[]; pattern: number[] }> {
  const m = await until("the cell's printed shapes", async () => /logits (\d+)x(\d+), pattern (\d+)x(\d+)x(\d+)/.exec(await frameTexts(page)) ?? undefined);
  const n = m.slice(1).map(Number);
  return { logits: n.slice(0, 2), pattern: n.slice(2) };
}

/** The variables view after the cell ran: its tensors with shapes, and a cached attention pattern as a heatmap panel. */
async function checkVariables(page: Page, notebook: string): Promise<void> {
  const shapes = await printedShapes(page);
  await runCommand(page, "Steer: Show Variables");
  const pane = page.locator('.pane:has(.pane-header[aria-label*="Steer Variables"])').first();
  const logitsLine = `[pos, vocab] ${shapes.logits.join("x")}`;
  const tree = await until(`the Steer Variables view to list logits as ${logitsLine}`, async () => {
    const t = await pane.innerText().catch(() => "");
    return t.includes(logitsLine) ? t : undefined;
  });
  assert.match(tree, /cache/, `the variables view lists the cache: ${tree}`);
  assert.match(tree, /tokens/, `the variables view lists the tokens: ${tree}`);

  await runCommand(page, "Steer: Open Variable as Heatmap");
  await until("the quick pick of tensors to offer the cached pattern", async () => (await page.locator(".quick-input-widget").innerText().catch(() => "")).includes("hook_pattern"));
  await page.locator(".quick-input-widget input").fill("hook_pattern");
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
  const frame = await until("the variable's heatmap panel", async () => {
    for (const f of await outputFrames(page)) if ((await f.locator('.steer-root.steer-variable[data-view="variable"] .steer-grid').count().catch(() => 0)) > 0) return f;
    return undefined;
  });
  const grid = frame.locator(".steer-variable .steer-grid").first();
  // [head, query_pos, key_pos]: a slice is query x key, the stepper walks the heads.
  assert.equal(await grid.getAttribute("data-rows"), String(shapes.pattern[1]), "rows of the pattern's slice");
  assert.equal(await grid.getAttribute("data-cols"), String(shapes.pattern[2]), "columns of the pattern's slice");
  assert.match(await frame.locator(".steer-variable .steer-title").first().innerText(), /hook_pattern/);
  await stepSlice(frame);
  await shot(page, "variable-heatmap");
  // The panel (active, in its own group), then the notebook, so later steps have the editor area to themselves.
  await closeEditor(page, "hook_pattern");
  await saveUntil(page, notebook, "the models notebook saved with its outputs", (nb) => nb.cells[0].outputs.length > 0);
  await closeEditor(page, "models.steer-nb");
}

async function stepSlice(frame: Frame): Promise<void> {
  const index = frame.locator('.steer-slice-index[data-axis="0"]').first();
  assert.equal(await index.innerText(), "0", "the panel opens at head 0");
  await frame.locator('.steer-slice-stepper vscode-button[data-action="next-0"]').first().click();
  await until("the stepper to show head 1 and the grid to redraw", async () =>
    (await index.innerText()) === "1" && (await frame.locator(".steer-variable").first().getAttribute("data-slice")) === "1" && (await frame.locator(".steer-variable").first().getAttribute("data-state")) === null);
}
