/** `steer-nb export`: writes a notebook, outputs and interactive views included, as one self-contained HTML file. */
import { writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { notebookToHtml, viewsUsed } from "../host/html-export";
import { readRendererBundles } from "../host/renderer-bundles";
import { EXIT, parseCommandArgs, UsageError, type Command } from "./command";
import { readNotebook } from "./notebook-file";

const help = `Usage: steer-nb export <notebook.steer-nb> --html <out.html>

Writes the notebook as one HTML file that opens in any browser with no network: markdown cells
rendered, code cells and text outputs as text, images inline, and every toolkit view (heatmaps,
circuit graph, attention, logit lens, massive activations) drawn by its own renderer, interactive
except for patching, which needs VS Code. The outputs are the ones stored in the notebook: run it
first (steer-nb run) to include fresh ones. The page follows the browser's light or dark scheme.

Options:
  --html <file>   The HTML file to write (required).
  -h, --help      Show this help.

Exit codes: 0 written, 2 bad usage or an unreadable or corrupt notebook (nothing written).

Examples:
  steer-nb run analysis.steer-nb && steer-nb export analysis.steer-nb --html analysis.html`;

function parse(args: string[]): { notebook: string; html: string } {
  const { positionals, values } = parseCommandArgs(args, { html: { type: "string" } });
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length ? `expected one notebook, got ${positionals.length}: ${positionals.join(" ")}` : "missing the notebook to export");
  }
  if (!values.html) throw new UsageError("missing --html <out.html>: the file to write");
  return { notebook: resolve(positionals[0]), html: resolve(values.html) };
}

async function run(args: string[]): Promise<number> {
  const options = parse(args);
  const notebook = readNotebook(options.notebook);
  if (typeof notebook === "string") {
    process.stderr.write(`steer-nb export: ${notebook}\n`);
    return EXIT.usage;
  }
  const html = notebookToHtml(notebook, { title: basename(options.notebook, ".steer-nb"), bundles: readRendererBundles(viewsUsed(notebook)) });
  writeFileSync(options.html, html);
  process.stdout.write(`wrote ${options.html} (${notebook.cells.length} cells, ${(html.length / 1024).toFixed(0)} KiB)\n`);
  return EXIT.ok;
}

export const exportCommand: Command = { name: "export", summary: "Write a notebook with its outputs and views as one self-contained HTML file.", help, run };
