/**
 * The "Steer TypeScript kernel" notebook controller: runs cells one at a time per notebook in that
 * notebook's kernel, streams outputs into the cell as they arrive, and takes execution order and
 * duration from the kernel's result. Cells queued behind a failed, interrupted or crashed cell are not
 * run (as in Jupyter).
 */
import * as vscode from "vscode";
import type { ExecuteOutcome } from "../host";
import { resolveNotebookModel } from "../host/notebook-model";
import { displayIdOf, errorOutput, RUNNABLE_LANGUAGES, STREAM_MIMES, type CellOutput } from "../protocol";
import type { KernelManager } from "./kernels";
import { outputToVscode } from "./outputs";
import { NOTEBOOK_TYPE } from "./serializer";

export const CONTROLLER_ID = "steer-typescript-kernel";

interface Queued {
  cell: vscode.NotebookCell;
  execution: vscode.NotebookCellExecution;
}

export class SteerController implements vscode.Disposable {
  private readonly controller: vscode.NotebookController;
  /** Per notebook: cells waiting to run, in order. The running one is no longer in it. */
  private readonly queues = new Map<vscode.NotebookDocument, Queued[]>();
  private readonly running = new Map<vscode.NotebookDocument, Promise<void>>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly kernels: KernelManager) {
    this.controller = vscode.notebooks.createNotebookController(CONTROLLER_ID, NOTEBOOK_TYPE, "Steer TypeScript kernel");
    this.controller.supportedLanguages = [...RUNNABLE_LANGUAGES];
    this.controller.supportsExecutionOrder = true;
    this.controller.description = "TypeScript cells in a Node process beside the notebook";
    this.controller.executeHandler = (cells, notebook) => this.enqueue(cells, notebook);
    this.controller.interruptHandler = (notebook) => this.interrupt(notebook);
    // The only kernel for this notebook type: preferring it spares the user a kernel picker on first run.
    const prefer = (nb: vscode.NotebookDocument) => {
      if (nb.notebookType === NOTEBOOK_TYPE) this.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
    };
    vscode.workspace.notebookDocuments.forEach(prefer);
    this.subscriptions.push(
      vscode.workspace.onDidOpenNotebookDocument(prefer),
      vscode.workspace.onDidCloseNotebookDocument((nb) => {
        this.cancelQueued(nb);
        this.queues.delete(nb);
        this.running.delete(nb);
      }),
    );
  }

  /** Stops the running cell and drops the queued ones. */
  async interrupt(notebook: vscode.NotebookDocument): Promise<void> {
    this.cancelQueued(notebook);
    const outcome = await this.kernels.get(notebook)?.interrupt();
    if (outcome?.status === "killed") {
      void vscode.window.showWarningMessage("Steer: the cell did not stop when interrupted, so its kernel was stopped (variables are lost). The next run starts a new kernel.");
    }
  }

  /** Restarts the notebook's kernel; queued cells are dropped, the running one ends as the kernel goes. */
  async restart(notebook: vscode.NotebookDocument): Promise<void> {
    this.cancelQueued(notebook);
    const outcome = await this.kernels.client(notebook).restart();
    if (outcome.status === "failed") throw new Error(`the kernel did not restart: ${outcome.message}`);
  }

  dispose(): void {
    for (const notebook of this.queues.keys()) this.cancelQueued(notebook);
    for (const s of this.subscriptions) s.dispose();
    this.controller.dispose();
  }

  private enqueue(cells: vscode.NotebookCell[], notebook: vscode.NotebookDocument): Promise<void> {
    const queue = this.queues.get(notebook) ?? [];
    this.queues.set(notebook, queue);
    for (const cell of cells) {
      // A cell already queued or running keeps its place (VS Code refuses a second execution of it).
      if (queue.some((q) => q.cell === cell)) continue;
      try {
        queue.push({ cell, execution: this.controller.createNotebookCellExecution(cell) });
      } catch {
        continue;
      }
    }
    const previous = this.running.get(notebook) ?? Promise.resolve();
    const next = previous.then(() => this.drain(notebook));
    this.running.set(notebook, next);
    return next;
  }

  private async drain(notebook: vscode.NotebookDocument): Promise<void> {
    const queue = this.queues.get(notebook);
    while (queue && queue.length > 0) {
      const item = queue.shift()!;
      let ok: boolean;
      try {
        ok = await this.runCell(item, notebook);
      } catch {
        // The notebook was closed or the execution ended under us: nothing left to show it in.
        ok = false;
        try {
          item.execution.end(false, Date.now());
        } catch {
          // already ended
        }
      }
      if (!ok) this.cancelQueued(notebook);
    }
  }

  private cancelQueued(notebook: vscode.NotebookDocument): void {
    const queue = this.queues.get(notebook);
    if (!queue) return;
    for (const { execution } of queue.splice(0)) execution.end(undefined);
  }

  /** Runs one cell; false when the cells after it should not run. */
  private async runCell({ cell, execution }: Queued, notebook: vscode.NotebookDocument): Promise<boolean> {
    const startTime = Date.now();
    execution.start(startTime);
    await execution.clearOutput();

    if (!vscode.workspace.isTrusted) {
      await execution.replaceOutput(outputToVscode(errorOutput({
        name: "Untrusted workspace",
        message: "Steer Notebooks runs cells only in a trusted workspace, because cells run code on this machine. " +
          "Trust this folder with the command 'Workspaces: Manage Workspace Trust', then run the cell again.",
      })));
      execution.end(false, Date.now());
      return false;
    }

    // Appends are chained so outputs land in the order the kernel sent them.
    let appended: Thenable<void> = Promise.resolve();
    let lastStream: { mime: string; output: vscode.NotebookCellOutput } | undefined;
    // Outputs shown with a display id, which later outputs of that id replace in place.
    const byDisplayId = new Map<string, vscode.NotebookCellOutput>();
    const onOutput = (output: CellOutput, replace: boolean): void => {
      const displayId = displayIdOf(output);
      const shown = replace && displayId !== undefined ? byDisplayId.get(displayId) : undefined;
      if (shown) {
        const items = outputToVscode(output).items;
        appended = appended.then(() => execution.replaceOutputItems(items, shown));
        return;
      }
      const mime = output.items.length === 1 ? output.items[0].mime : undefined;
      const target = lastStream;
      if (mime && STREAM_MIMES.includes(mime) && target?.mime === mime) {
        // Consecutive console lines join one output, the way a terminal shows them.
        const item = outputToVscode(output).items[0];
        appended = appended.then(() => execution.appendOutputItems(item, target.output));
        return;
      }
      const converted = outputToVscode(output);
      if (displayId !== undefined) byDisplayId.set(displayId, converted);
      lastStream = mime && STREAM_MIMES.includes(mime) ? { mime, output: converted } : undefined;
      appended = appended.then(() => execution.appendOutput(converted));
    };

    const notebookPath = notebook.uri.scheme === "file" ? notebook.uri.fsPath : undefined;
    let model: string | undefined;
    try {
      model = resolveNotebookModel(notebook.metadata, notebookPath);
    } catch (e) {
      await execution.replaceOutput(outputToVscode(errorOutput({ name: "NotebookModelError", message: (e as Error).message })));
      execution.end(false, Date.now());
      return false;
    }
    const outcome: ExecuteOutcome = await this.kernels.client(notebook).execute(
      { cellId: `cell-${cell.index + 1}`, cellIndex: cell.index + 1, code: cell.document.getText(), notebookPath, model },
      onOutput,
    );
    await appended;
    if (outcome.order !== undefined) execution.executionOrder = outcome.order;
    if (outcome.status !== "ok") await execution.appendOutput(outputToVscode(errorOutput(outcome.error)));
    execution.end(outcome.status === "ok", startTime + outcome.durationMs);
    return outcome.status === "ok";
  }
}
