/** Kernel commands for the notebook toolbar and the command palette. */
import * as vscode from "vscode";
import type { SteerController } from "./controller";
import { NOTEBOOK_TYPE } from "./serializer";

export function registerKernelCommands(controller: SteerController): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("steer.interruptKernel", (arg?: unknown) => withNotebook(arg, (nb) => controller.interrupt(nb))),
    vscode.commands.registerCommand("steer.restartKernel", (arg?: unknown) => withNotebook(arg, (nb) => controller.restart(nb))),
  ];
}

async function withNotebook(arg: unknown, action: (nb: vscode.NotebookDocument) => Promise<void>): Promise<void> {
  const notebook = targetNotebook(arg);
  if (!notebook) {
    void vscode.window.showWarningMessage("Steer: open a .steer-nb notebook first; this command acts on its kernel.");
    return;
  }
  try {
    await action(notebook);
  } catch (e) {
    void vscode.window.showErrorMessage(`Steer: ${(e as Error).message}`);
  }
}

/** The toolbar passes `{ notebookEditor: { notebookUri } }`, other callers a Uri or nothing (the active editor). */
export function targetNotebook(arg: unknown): vscode.NotebookDocument | undefined {
  let uri: vscode.Uri | undefined;
  if (arg instanceof vscode.Uri) uri = arg;
  else if (arg && typeof arg === "object" && "notebookEditor" in arg) {
    uri = (arg as { notebookEditor?: { notebookUri?: vscode.Uri } }).notebookEditor?.notebookUri;
  }
  const notebook = uri
    ? vscode.workspace.notebookDocuments.find((nb) => nb.uri.toString() === uri.toString())
    : vscode.window.activeNotebookEditor?.notebook;
  return notebook?.notebookType === NOTEBOOK_TYPE ? notebook : undefined;
}
