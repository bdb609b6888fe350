/**
 * "Steer: Export as HTML": the notebook as currently shown (unsaved edits and outputs included) as one
 * self-contained HTML page, written where the user picks (default: <notebook>.html beside it).
 */
import * as vscode from "vscode";
import { notebookToHtml, viewsUsed } from "../host/html-export";
import { readRendererBundles } from "../host/renderer-bundles";
import { NOTEBOOK_TYPE, notebookFromVscode } from "./serializer";

export function registerHtmlExportCommand(): vscode.Disposable {
  return vscode.commands.registerCommand("steer.exportHtml", () => exportActiveNotebook());
}

async function exportActiveNotebook(): Promise<void> {
  const notebook = vscode.window.activeNotebookEditor?.notebook;
  if (!notebook || notebook.notebookType !== NOTEBOOK_TYPE) {
    void vscode.window.showErrorMessage("Steer: Export as HTML needs an open .steer-nb notebook: open one and run the command again.");
    return;
  }
  const base = notebook.uri.path.replace(/\.steer-nb$/, "");
  const target = await vscode.window.showSaveDialog({
    defaultUri: notebook.uri.with({ path: `${base}.html` }),
    filters: { HTML: ["html"] },
    title: "Export notebook as HTML",
  });
  if (!target) return;
  try {
    const nb = notebookFromVscode(documentData(notebook));
    const title = base.slice(base.lastIndexOf("/") + 1);
    // dist/extension.js runs from dist/, where the renderer bundles are built.
    const html = notebookToHtml(nb, { title, bundles: readRendererBundles(viewsUsed(nb)) });
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(html));
    const open = await vscode.window.showInformationMessage(`Exported ${vscode.workspace.asRelativePath(target)}.`, "Open in Browser");
    if (open) await vscode.env.openExternal(target);
  } catch (e) {
    void vscode.window.showErrorMessage(`Steer: the HTML export failed: ${(e as Error).message}`);
  }
}

/** The open document as the serializer's input, so the export converts cells and outputs exactly as saving does. */
function documentData(notebook: vscode.NotebookDocument): vscode.NotebookData {
  const cells = notebook.getCells().map((cell) => {
    const data = new vscode.NotebookCellData(cell.kind, cell.document.getText(), cell.document.languageId);
    data.outputs = [...cell.outputs];
    data.metadata = cell.metadata;
    data.executionSummary = cell.executionSummary;
    return data;
  });
  const data = new vscode.NotebookData(cells);
  data.metadata = notebook.metadata;
  return data;
}
