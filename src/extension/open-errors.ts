/**
 * Tells the user why a .steer-nb file did not open. VS Code's error editor shows only "could not be
 * opened due to an unexpected error" for a serializer's exception, so the parser's message (which says
 * what is wrong and where) goes into a notification too, with a way to fix the file as text.
 */
import * as vscode from "vscode";
import { NOTEBOOK_TYPE } from "./serializer";

export function reportOpenError(message: string): void {
  const uri = failedNotebookUri();
  const text = message.replace(/^This \.steer-nb file/, uri ? vscode.workspace.asRelativePath(uri) : "A .steer-nb file");
  const openAsText = "Open in Text Editor";
  void vscode.window.showErrorMessage(text, ...(uri ? [openAsText] : [])).then((choice) => {
    if (choice === openAsText && uri) void vscode.commands.executeCommand("vscode.openWith", uri, "default");
  });
}

/** The Steer notebook tab that has no notebook document: the one whose file just failed to load. */
function failedNotebookUri(): vscode.Uri | undefined {
  const open = new Set(vscode.workspace.notebookDocuments.map((nb) => nb.uri.toString()));
  const candidates = vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .map((t) => t.input)
    .filter((i): i is vscode.TabInputNotebook => i instanceof vscode.TabInputNotebook && i.notebookType === NOTEBOOK_TYPE)
    .filter((i) => !open.has(i.uri.toString()));
  const unique = [...new Map(candidates.map((i) => [i.uri.toString(), i.uri])).values()];
  return unique.length === 1 ? unique[0] : undefined;
}
