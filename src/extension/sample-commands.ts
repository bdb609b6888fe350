/** Commands "Steer: Open Sample Notebook" and "Steer: New Notebook". */
import * as vscode from "vscode";
import { freeFileName, listSamples, newNotebook, type SampleNotebook } from "./samples";
import { NOTEBOOK_TYPE, notebookToVscode } from "./serializer";

export function registerSampleCommands(extensionPath: string): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("steer.openSample", () => reportErrors(() => openSample(extensionPath))),
    vscode.commands.registerCommand("steer.newNotebook", () => reportErrors(newUntitled)),
  ];
}

async function reportErrors(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (e) {
    void vscode.window.showErrorMessage(`Steer: ${(e as Error).message}`);
  }
}

/**
 * Copies the chosen sample into the workspace folder (a new name if one is taken: nothing is overwritten),
 * or where the user says when no folder is open, and opens the copy: the shipped file stays as it is, and the
 * copy can be run and edited.
 */
async function openSample(extensionPath: string): Promise<void> {
  const samples = listSamples(extensionPath);
  const picked = await vscode.window.showQuickPick(
    samples.map((sample) => ({ label: sample.title, description: sample.file, detail: sample.description, sample })),
    { title: "Steer: Open Sample Notebook", placeHolder: "A sample to copy into your workspace and open", matchOnDetail: true },
  );
  if (!picked) return;
  const target = await copyTarget(picked.sample);
  if (!target) return;
  await vscode.workspace.fs.copy(vscode.Uri.file(picked.sample.path), target, { overwrite: true });
  await vscode.window.showNotebookDocument(await vscode.workspace.openNotebookDocument(target));
}

async function copyTarget(sample: SampleNotebook): Promise<vscode.Uri | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const folder = folders.length > 1 ? await vscode.window.showWorkspaceFolderPick({ placeHolder: `The folder to copy ${sample.file} into` }) : folders[0];
  if (folders.length > 1 && !folder) return undefined;
  if (!folder) {
    const home = process.env.HOME ?? process.env.USERPROFILE;
    return vscode.window.showSaveDialog({
      title: `Save a copy of the sample "${sample.title}"`,
      filters: { "Steer notebook": ["steer-nb"] },
      ...(home ? { defaultUri: vscode.Uri.joinPath(vscode.Uri.file(home), sample.file) } : {}),
    });
  }
  const taken = new Set((await vscode.workspace.fs.readDirectory(folder.uri)).map(([name]) => name));
  return vscode.Uri.joinPath(folder.uri, freeFileName(sample.file, taken));
}

/** An untitled notebook: VS Code asks where to save it on the first save. */
async function newUntitled(): Promise<void> {
  const doc = await vscode.workspace.openNotebookDocument(NOTEBOOK_TYPE, notebookToVscode(newNotebook()));
  await vscode.window.showNotebookDocument(doc);
}
