/**
 * `steer-nb run`: executes every code cell of a notebook in order in one kernel, stores outputs and
 * execution info in the notebook (or --out), and stops at the first failing cell.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { KernelClient, type ExecuteOutcome } from "../host";
import { resolveNotebookModel } from "../host/notebook-model";
import { displayIdOf, errorOutput, placeOutput, RUNNABLE_LANGUAGES, serializeNotebook, type CellOutput } from "../protocol";
import { EXIT, parseCommandArgs, UsageError, type Command } from "./command";
import { LiveLines } from "./live-lines";
import { readNotebook } from "./notebook-file";
import { outputsText } from "./output-text";


const help = `Usage: steer-nb run <notebook.steer-nb> [--out <file>] [--timeout <seconds>] [--quiet] [--verbose]

Runs every code cell in order in a fresh kernel (a Node process, as in VS Code) and writes the
outputs and execution info (order, success, duration) into the notebook, or into --out. Prints one
line per cell with what it printed and a one-line summary of each view (a heatmap, a circuit, ...).
Stops at the first failing cell: later cells keep their previous outputs. Outputs that update in
place (progress bars, display(value, { id })) print to stderr instead, at most every 200 ms and
their final state; the notebook keeps their final state. When the notebook's metadata names a model
("steer": { "model": { "path": ... } }, a path relative to the notebook), steer.load() loads it.

Options:
  -o, --out <file>       Write the executed notebook here instead of over the input.
  -t, --timeout <secs>   Per-cell time limit: a cell running longer is interrupted and fails.
  -q, --quiet            Print only the status line of each cell (no progress on stderr).
  -v, --verbose          Also print the kernel's own log (native library messages) to stderr.
  -h, --help             Show this help.

Exit codes: 0 all cells ran, 1 a cell failed (named on stderr), 2 bad usage, unreadable or corrupt
notebook (the file is left untouched).

Examples:
  steer-nb run analysis.steer-nb
  steer-nb run analysis.steer-nb --out executed.steer-nb --timeout 600`;

interface RunOptions {
  notebook: string;
  out: string;
  timeoutMs?: number;
  verbose: boolean;
  quiet: boolean;
}

function parse(args: string[]): RunOptions {
  const parsed = parseCommandArgs(args, {
    out: { type: "string", short: "o" },
    timeout: { type: "string", short: "t" },
    verbose: { type: "boolean", short: "v" },
    quiet: { type: "boolean", short: "q" },
  });
  const { positionals, values } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length ? `expected one notebook, got ${positionals.length}: ${positionals.join(" ")}` : "missing the notebook to run");
  }
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const seconds = Number(values.timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout takes a positive number of seconds, got "${values.timeout}"`);
    timeoutMs = seconds * 1000;
  }
  const notebook = resolve(positionals[0]);
  return { notebook, out: values.out ? resolve(values.out) : notebook, timeoutMs, verbose: values.verbose ?? false, quiet: values.quiet ?? false };
}

/** Writes beside the target and renames, so an interrupted write never leaves half a notebook. */
function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function describeFailure(outcome: Exclude<ExecuteOutcome, { status: "ok" }>): string {
  return `${outcome.error.name}: ${outcome.error.message}`;
}

async function run(args: string[]): Promise<number> {
  const options = parse(args);
  const notebook = readNotebook(options.notebook, "\nThe file was not changed.");
  if (typeof notebook === "string") {
    process.stderr.write(`steer-nb run: ${notebook}\n`);
    return EXIT.usage;
  }
  let model: string | undefined;
  try {
    model = resolveNotebookModel(notebook.metadata, options.notebook);
  } catch (e) {
    process.stderr.write(`steer-nb run: ${options.notebook}: ${(e as Error).message}\nThe file was not changed.\n`);
    return EXIT.usage;
  }

  const client = new KernelClient({ cwd: dirname(options.notebook) });
  if (options.verbose) client.onDidLog((entry) => process.stderr.write(`[kernel ${entry.source}] ${entry.message}\n`));
  let stoppedByUser = false;
  const onSigint = () => {
    stoppedByUser = true;
    void client.interrupt();
  };
  process.on("SIGINT", onSigint);

  let failed: { index: number; message: string } | undefined;
  let ran = 0;
  const live = new LiveLines((line) => {
    if (!options.quiet) process.stderr.write(line);
  });
  try {
    for (const [i, cell] of notebook.cells.entries()) {
      const index = i + 1;
      if (cell.kind !== "code") continue;
      if (!RUNNABLE_LANGUAGES.includes(cell.language)) {
        process.stdout.write(`cell ${index} skipped (language ${cell.language})\n`);
        continue;
      }
      if (stoppedByUser) break;
      const outputs: CellOutput[] = [];
      const outcome = await client.execute(
        { cellId: `cell-${index}`, cellIndex: index, code: cell.source, notebookPath: options.notebook, model },
        (output, replace) => {
          placeOutput(outputs, output, replace);
          live.push(output);
        },
        { timeoutMs: options.timeoutMs },
      );
      live.flush();
      if (outcome.status !== "ok") outputs.push(errorOutput(outcome.error));
      cell.outputs = outputs;
      cell.execution = { order: outcome.order ?? 0, success: outcome.status === "ok", durationMs: outcome.durationMs };
      if (outcome.status === "ok") {
        ran++;
        process.stdout.write(`cell ${index} ok ${outcome.durationMs} ms\n`);
        // Outputs with a display id went to stderr as they changed, their final state included.
        if (!options.quiet) process.stdout.write(outputsText(outputs.filter((o) => displayIdOf(o) === undefined)));
        continue;
      }
      const message = describeFailure(outcome);
      process.stdout.write(`cell ${index} FAILED: ${message}\n`);
      const frames = outcome.error.stack?.split("\n").filter((l) => /^\s+at /.test(l)) ?? [];
      if (frames.length) process.stdout.write(frames.join("\n") + "\n");
      failed = { index, message };
      break;
    }
  } finally {
    process.off("SIGINT", onSigint);
    await client.dispose();
  }

  writeAtomically(options.out, serializeNotebook(notebook));
  if (failed) {
    process.stderr.write(`steer-nb run: stopped at cell ${failed.index}: ${failed.message.split("\n")[0]}\nOutputs written to ${options.out}.\n`);
    return EXIT.failed;
  }
  if (stoppedByUser) {
    process.stderr.write(`steer-nb run: stopped by the user. Outputs written to ${options.out}.\n`);
    return EXIT.failed;
  }
  process.stdout.write(`${ran} code cell${ran === 1 ? "" : "s"} ran. Outputs written to ${options.out}.\n`);
  return EXIT.ok;
}

export const runCommand: Command = {
  name: "run",
  summary: "Run every code cell of a notebook and save the outputs into it (or --out).",
  help,
  run,
};
