/** Finding cells and outputs in an open notebook, for commands and the renderer broker. */
import * as vscode from "vscode";

/** The editor's selected cell, if any. */
export function selectedCell(editor: vscode.NotebookEditor): vscode.NotebookCell | undefined {
  const sel = editor.selection;
  return sel.isEmpty || sel.start >= editor.notebook.cellCount ? undefined : editor.notebook.cellAt(sel.start);
}

/** An output's id: renderers see it; the API keeps it at run time though @types/vscode 1.90 does not declare it. */
export function outputIdOf(output: vscode.NotebookCellOutput): string | undefined {
  const id = (output as { id?: unknown }).id;
  return typeof id === "string" ? id : undefined;
}
