/**
 * Relays messages between the notebook renderers' webviews and the kernel of the notebook they belong
 * to, so a click in a view (a token, a heatmap cell) can reach cell code and its answer can come back.
 * Two requests are the host's own and never reach the kernel: "steer.insert-code" (add a code cell
 * below the view's cell) and "steer.rerun-cell" (run the view's cell again, when its kernel is gone).
 * Circuit exports go to the kernel and their answers come back to ./circuit-export-command.ts, which
 * writes the file (the broker owns it, and with it the command "Steer: Export Circuit Diagram").
 */
import * as vscode from "vscode";
import { outputIdOf, selectedCell } from "./cells";
import { VIEW_RENDERERS, type InsertCodeRequest, type RerunCellRequest } from "../protocol";
import { CircuitExporter, isExportRequest } from "./circuit-export-command";
import type { KernelManager } from "./kernels";

/** Every renderer of package.json's "notebookRenderer" list: one per view. */
export const RENDERER_IDS: readonly string[] = [...new Set(Object.values(VIEW_RENDERERS))];

export class RendererBroker implements vscode.Disposable {
  private readonly messaging = new Map(RENDERER_IDS.map((id) => [id, vscode.notebooks.createRendererMessaging(id)] as const));
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(kernels: KernelManager) {
    const exporter = new CircuitExporter(kernels);
    this.subscriptions.push(exporter);
    for (const [id, messaging] of this.messaging) {
      this.subscriptions.push(messaging.onDidReceiveMessage(({ editor, message }) => {
        if (handledByHost(editor, message)) return;
        const delivered = kernels.get(editor.notebook)?.postRendererMessage(id, message) ?? false;
        // Tell the view instead of dropping the message, so it can say why nothing happened.
        if (!delivered) void messaging.postMessage({ type: "kernel-unavailable", request: message }, editor);
        else if (isExportRequest(message)) {
          const reply = (saved: unknown) => void messaging.postMessage(saved, editor);
          exporter.track(message, editor.notebook, cellOfOutput(editor, message.outputId), reply).catch(() => undefined);
        }
      }));
    }
    this.subscriptions.push(kernels.onRendererMessage(({ notebook, rendererId, message }) => {
      if (exporter.handleKernelMessage(notebook, message)) return;
      const messaging = this.messaging.get(rendererId);
      if (!messaging) return;
      for (const editor of vscode.window.visibleNotebookEditors) {
        if (editor.notebook === notebook) void messaging.postMessage(message, editor);
      }
    }));
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}

function handledByHost(editor: vscode.NotebookEditor, message: unknown): boolean {
  const type = typeof message === "object" && message !== null ? (message as { type?: unknown }).type : undefined;
  if (type === "steer.insert-code") {
    void insertCodeBelow(editor, message as InsertCodeRequest).catch(reportFailure("Insert as code"));
    return true;
  }
  if (type === "steer.rerun-cell") {
    void rerunCell(editor, message as RerunCellRequest).catch(reportFailure("Re-run cell"));
    return true;
  }
  return false;
}

/** The cell holding the output `outputId`, else the selected cell. */
function cellOfOutput(editor: vscode.NotebookEditor, outputId: string | undefined): vscode.NotebookCell | undefined {
  if (outputId) {
    for (const cell of editor.notebook.getCells()) {
      if (cell.outputs.some((o) => outputIdOf(o) === outputId)) return cell;
    }
  }
  return selectedCell(editor);
}

async function insertCodeBelow(editor: vscode.NotebookEditor, m: InsertCodeRequest): Promise<void> {
  if (typeof m.code !== "string") throw new Error("the view sent no code (expected { type: \"steer.insert-code\", code: string })");
  const cell = cellOfOutput(editor, m.outputId);
  const index = cell ? cell.index + 1 : editor.notebook.cellCount;
  const edit = new vscode.WorkspaceEdit();
  edit.set(editor.notebook.uri, [vscode.NotebookEdit.insertCells(index, [new vscode.NotebookCellData(vscode.NotebookCellKind.Code, m.code, "typescript")])]);
  if (!(await vscode.workspace.applyEdit(edit))) throw new Error("VS Code refused the edit (is the notebook read-only?)");
  const range = new vscode.NotebookRange(index, index + 1);
  editor.selection = range;
  editor.revealRange(range);
}

async function rerunCell(editor: vscode.NotebookEditor, m: RerunCellRequest): Promise<void> {
  const cell = cellOfOutput(editor, m.outputId);
  if (!cell) throw new Error("could not find the view's cell: select it and run it");
  await vscode.commands.executeCommand("notebook.cell.execute", { ranges: [{ start: cell.index, end: cell.index + 1 }], document: editor.notebook.uri });
}

function reportFailure(what: string): (e: unknown) => void {
  return (e) => void vscode.window.showErrorMessage(`Steer: ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
}
