/**
 * "Steer: Select Model" and "Steer: Download Model": a notebook names its model in its metadata
 * (`steer.model`, see src/host/notebook-model.ts), which `steer.load()` with no path then loads. Both take
 * an argument from `vscode.commands.executeCommand`, so tests and keybindings can run them without dialogs:
 *   executeCommand("steer.selectModel", "/path/model.gguf")            (or a Uri; relative: to the notebook)
 *   executeCommand("steer.downloadModel", "hf:user/repo:Q8_0")         (then offers "Use in this notebook")
 *   executeCommand("steer.downloadModel", { address, use: true })      (uses it without asking)
 * Each resolves to what happened: SelectOutcome / DownloadOutcome.
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import * as vscode from "vscode";
import { checkModel } from "../host/model-check";
import { addressProblem, defaultModelsFolder, describeKept, describeProgress, downloadModel, type DownloadOutcome } from "../host/model-download";
import { withNotebookModel } from "../host/notebook-model";
import { targetNotebook } from "./commands";

export type SelectOutcome = { status: "selected"; path: string } | { status: "rejected"; message: string } | { status: "no-notebook" | "dismissed" };

export function registerModelCommands(): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("steer.selectModel", (arg?: unknown) => selectModel(arg)),
    vscode.commands.registerCommand("steer.downloadModel", (arg?: unknown) => downloadCommand(arg)),
  ];
}

const NO_NOTEBOOK = "Steer: open a .steer-nb notebook first; the model is recorded in its metadata.";

async function selectModel(arg: unknown): Promise<SelectOutcome> {
  // A Uri of a .gguf is the model; any other Uri (or the toolbar's argument) names the notebook.
  const given = typeof arg === "string" ? arg : arg instanceof vscode.Uri && /\.gguf$/i.test(arg.path) ? arg.fsPath : undefined;
  const notebook = targetNotebook(given === undefined ? arg : undefined);
  if (!notebook) {
    void vscode.window.showWarningMessage(NO_NOTEBOOK);
    return { status: "no-notebook" };
  }
  const folder = notebookFolder(notebook);
  let path = given === undefined ? undefined : resolve(folder ?? homedir(), given);
  if (path === undefined) {
    const picked = await vscode.window.showOpenDialog({
      title: "Steer: Select Model",
      openLabel: "Use this model",
      canSelectMany: false,
      filters: { "GGUF model": ["gguf"] },
      ...(folder ? { defaultUri: vscode.Uri.file(folder) } : {}),
    });
    if (!picked?.[0]) return { status: "dismissed" };
    path = picked[0].fsPath;
  }
  return useModel(notebook, path);
}

/** Checks the file and, if the engine can run it, writes it into the notebook's metadata. */
async function useModel(notebook: vscode.NotebookDocument, path: string, source?: string): Promise<SelectOutcome> {
  const check = checkModel(path);
  if (!check.ok) {
    void vscode.window.showErrorMessage(`Steer: ${check.message} The notebook was not changed.`);
    return { status: "rejected", message: check.message };
  }
  const notebookPath = notebook.uri.scheme === "file" ? notebook.uri.fsPath : undefined;
  const edit = new vscode.WorkspaceEdit();
  edit.set(notebook.uri, [vscode.NotebookEdit.updateNotebookMetadata(withNotebookModel(notebook.metadata, path, notebookPath, source))]);
  if (!(await vscode.workspace.applyEdit(edit))) {
    const message = `VS Code refused to change ${notebook.uri.fsPath}'s metadata (is it read-only?).`;
    void vscode.window.showErrorMessage(`Steer: ${message}`);
    return { status: "rejected", message };
  }
  void vscode.window.showInformationMessage(
    `Steer: this notebook now uses ${check.name} (${check.architecture}, ${check.nLayers} layers x ${check.nHeads} heads). ` +
      "The next steer.load() loads it; save the notebook to keep the choice.",
  );
  return { status: "selected", path };
}

interface DownloadArg {
  address: string;
  /** set the downloaded model as the notebook's without asking */
  use?: boolean;
}

async function downloadCommand(arg: unknown): Promise<DownloadOutcome | undefined> {
  const given = parseDownloadArg(arg);
  const notebook = targetNotebook(given ? undefined : arg);
  const address = given?.address ?? (await vscode.window.showInputBox({
    title: "Steer: Download Model",
    prompt: "The URL or Hugging Face address of a GGUF model",
    placeHolder: "hf:user/repo:Q8_0, hf:user/repo/file.gguf or https://host/model.gguf",
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === "" ? undefined : addressProblem(v)),
  }));
  if (!address?.trim()) return undefined;
  const dir = modelsFolder();
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Steer: downloading ${address.trim()}`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      let shown = 0;
      try {
        return await downloadModel(address, {
          dir,
          signal: controller.signal,
          onProgress: (p) => {
            const percent = p.percent ?? 0;
            // Increments add up: report only the part not shown yet.
            progress.report({ message: describeProgress(p), increment: Math.max(0, percent - shown) });
            shown = Math.max(shown, percent);
          },
        });
      } finally {
        cancel.dispose();
      }
    },
  );
  switch (outcome.status) {
    case "done": {
      if (!notebook) {
        void vscode.window.showInformationMessage(`Steer: downloaded ${outcome.path}. Open a notebook and run "Steer: Select Model" to use it.`);
      } else if (given?.use) {
        await useModel(notebook, outcome.path, address.trim());
      } else {
        void vscode.window.showInformationMessage(`Steer: downloaded ${outcome.path}.`, "Use in this notebook").then((choice) => {
          if (choice) void useModel(notebook, outcome.path, address.trim());
        });
      }
      break;
    }
    case "cancelled":
      void vscode.window.showInformationMessage(`Steer: download stopped; ${describeKept(outcome)}${outcome.partialPath ? " Download the same address again to resume." : ""}`);
      break;
    case "failed":
      void vscode.window.showErrorMessage(`Steer: ${outcome.message}`);
      break;
  }
  return outcome;
}

function parseDownloadArg(arg: unknown): DownloadArg | undefined {
  if (typeof arg === "string") return { address: arg };
  if (arg && typeof arg === "object" && typeof (arg as DownloadArg).address === "string") return arg as DownloadArg;
  return undefined;
}

/** The setting steer.modelsFolder (`~` expanded), else the documented default. */
function modelsFolder(): string {
  const setting = vscode.workspace.getConfiguration("steer").get<string>("modelsFolder", "").trim();
  if (!setting) return defaultModelsFolder();
  const expanded = setting === "~" || setting.startsWith("~/") ? homedir() + setting.slice(1) : setting;
  return isAbsolute(expanded) ? expanded : resolve(homedir(), expanded);
}

function notebookFolder(notebook: vscode.NotebookDocument): string | undefined {
  if (notebook.uri.scheme === "file") return dirname(notebook.uri.fsPath);
  const folder = vscode.workspace.getWorkspaceFolder(notebook.uri) ?? vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
}
