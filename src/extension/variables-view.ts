/**
 * The "Steer Variables" tree view (explorer): the active Steer notebook's kernel's variables, a tensor
 * with its axes and shape, a cache (or an object holding tensors) expanding into its tensors. It
 * refreshes when a cell finishes (the kernel goes idle), when another notebook becomes active, and
 * from its refresh button. A tensor opens as a heatmap (./variables-panel.ts) on click.
 *
 * VS Code's own notebook variables view (NotebookVariableProvider) is a proposed API, which a
 * published extension cannot use, so this is a view of our own.
 */
import * as vscode from "vscode";
import type { VariableInfo } from "../protocol";
import type { KernelManager } from "./kernels";
import { NOTEBOOK_TYPE } from "./serializer";
import { VariablePanels } from "./variables-panel";

export const VARIABLES_VIEW_ID = "steer.variables";
export const OPEN_HEATMAP_COMMAND = "steer.openVariableHeatmap";

/** What the view shows in place of items when there are none (TreeView.message). */
export const EMPTY_MESSAGES = {
  noNotebook: "Open a Steer notebook (.steer-nb) to see its kernel's variables.",
  noKernel: "No kernel: run a cell",
  noVariables: "No variables yet: run a cell that declares one (const x = ...).",
} as const;

class VariableItem extends vscode.TreeItem {
  /** `parent`: the container this is an entry of, whose path the label leaves out. */
  constructor(readonly info: VariableInfo, parent?: VariableInfo) {
    super(parent ? entryLabel(info.name, parent.name) : info.name, info.entries?.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    this.description = info.shape ? `[${(info.dims ?? []).join(", ")}] ${info.shape.join("x") || "scalar"}` : info.type;
    this.tooltip = `${info.name}: ${info.summary}`;
    this.id = info.name;
    if (info.shape) {
      this.contextValue = "steerTensor";
      this.iconPath = new vscode.ThemeIcon("symbol-array");
      this.command = { command: OPEN_HEATMAP_COMMAND, title: "Open as Heatmap", arguments: [info.name] };
    } else {
      this.iconPath = new vscode.ThemeIcon(info.entries?.length ? "symbol-namespace" : "symbol-variable");
    }
  }
}

class VariablesTree implements vscode.TreeDataProvider<VariableItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private items: VariableItem[] = [];
  message: string | undefined = EMPTY_MESSAGES.noNotebook;
  private readonly messageChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeMessage = this.messageChanged.event;

  constructor(private readonly kernels: KernelManager) {}

  getTreeItem(item: VariableItem): VariableItem {
    return item;
  }

  getChildren(item?: VariableItem): VariableItem[] {
    return item ? (item.info.entries ?? []).map((e) => new VariableItem(e, item.info)) : this.items;
  }

  /** Asks the notebook's kernel for its variables; a busy kernel keeps the last list and says so. */
  async refresh(notebook: vscode.NotebookDocument | undefined): Promise<void> {
    const client = notebook && this.kernels.get(notebook);
    if (!notebook) return this.show([], EMPTY_MESSAGES.noNotebook);
    if (!client || client.state === "not-started" || client.state === "dead") return this.show([], EMPTY_MESSAGES.noKernel);
    const outcome = await client.variables();
    if (outcome.status === "ok") return this.show(outcome.variables, outcome.variables.length ? undefined : EMPTY_MESSAGES.noVariables);
    if (outcome.status === "timeout") return this.setMessage("The kernel is busy (a cell is running): the list refreshes when it finishes.");
    return this.show([], outcome.status === "no-kernel" ? EMPTY_MESSAGES.noKernel : `The kernel stopped: ${outcome.message} Run a cell to start a new one.`);
  }

  private show(variables: VariableInfo[], message: string | undefined): void {
    this.items = variables.map((v) => new VariableItem(v));
    this.changed.fire();
    this.setMessage(message);
  }

  private setMessage(message: string | undefined): void {
    this.message = message;
    this.messageChanged.fire();
  }

  dispose(): void {
    this.changed.dispose();
    this.messageChanged.dispose();
  }
}

/**
 * The view, its commands ("Steer: Show Variables", "Steer: Refresh Variables", "Steer: Open Variable
 * as Heatmap") and the heatmap panels.
 */
export function registerVariablesView(kernels: KernelManager, extensionPath: string): vscode.Disposable[] {
  const tree = new VariablesTree(kernels);
  const view = vscode.window.createTreeView(VARIABLES_VIEW_ID, { treeDataProvider: tree, showCollapseAll: true });
  const panels = new VariablePanels(kernels, extensionPath);
  // The notebook whose variables are shown: the active one, kept while a panel or another view has focus.
  let notebook = steerNotebook(vscode.window.activeNotebookEditor);
  const refresh = () => void tree.refresh(notebook && !notebook.isClosed ? notebook : undefined);
  tree.onDidChangeMessage(() => (view.message = tree.message));
  view.message = tree.message;
  refresh();

  return [
    tree,
    view,
    panels,
    vscode.window.onDidChangeActiveNotebookEditor((editor) => {
      const next = steerNotebook(editor);
      if (!next || next === notebook) return;
      notebook = next;
      refresh();
    }),
    vscode.workspace.onDidCloseNotebookDocument((nb) => {
      if (nb !== notebook) return;
      notebook = steerNotebook(vscode.window.activeNotebookEditor);
      refresh();
    }),
    kernels.onDidChangeState(({ notebook: nb, state }) => {
      if (nb !== notebook || state === "busy" || state === "starting") return;
      if (view.visible) refresh();
      if (state === "idle" || state === "dead") panels.refresh(nb);
    }),
    view.onDidChangeVisibility(({ visible }) => visible && refresh()),
    vscode.commands.registerCommand("steer.showVariables", () => vscode.commands.executeCommand(`${VARIABLES_VIEW_ID}.focus`)),
    vscode.commands.registerCommand("steer.refreshVariables", refresh),
    vscode.commands.registerCommand(OPEN_HEATMAP_COMMAND, async (arg?: unknown) => {
      const nb = notebook && !notebook.isClosed ? notebook : undefined;
      if (!nb || !kernels.get(nb)) {
        void vscode.window.showWarningMessage(`Steer: ${nb ? "no kernel is running for this notebook: run a cell first" : "open a Steer notebook and run a cell first"}; its tensor variables open as heatmaps.`);
        return;
      }
      const name = nameOf(arg) ?? (await pickTensor(kernels, nb));
      if (name) await panels.open(nb, name);
    }),
  ];
}

/** An entry's key or field: `cache["blocks.0.hook_resid_post"]` under `cache` reads `blocks.0.hook_resid_post`. */
function entryLabel(path: string, parent: string): string {
  const rest = path.startsWith(parent) ? path.slice(parent.length) : path;
  const key = /^\[(".*")\]$/.exec(rest);
  if (key) return JSON.parse(key[1]) as string;
  return rest.replace(/^\./, "");
}

function steerNotebook(editor: vscode.NotebookEditor | undefined): vscode.NotebookDocument | undefined {
  return editor?.notebook.notebookType === NOTEBOOK_TYPE ? editor.notebook : undefined;
}

/** The command's argument: a name (palette callers, tests), or the tree item an inline action passes. */
function nameOf(arg: unknown): string | undefined {
  if (typeof arg === "string" && arg.trim()) return arg.trim();
  if (arg instanceof VariableItem) return arg.info.name;
  return undefined;
}

/** A quick pick of the kernel's tensors (caches' entries included). */
async function pickTensor(kernels: KernelManager, notebook: vscode.NotebookDocument): Promise<string | undefined> {
  const outcome = await kernels.get(notebook)!.variables();
  if (outcome.status !== "ok") {
    void vscode.window.showWarningMessage(`Steer: could not list the kernel's variables: ${outcome.message}`);
    return undefined;
  }
  const tensors: VariableInfo[] = [];
  const walk = (infos: VariableInfo[]) => infos.forEach((v) => (v.shape && tensors.push(v), v.entries && walk(v.entries)));
  walk(outcome.variables);
  if (!tensors.length) {
    void vscode.window.showInformationMessage("Steer: no variable holds a Tensor yet (e.g. `const { logits, cache } = await model.runWithCache(tokens)`).");
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    tensors.map((t) => ({ label: t.name, description: t.summary })),
    { title: "Open Variable as Heatmap", placeHolder: "a tensor variable, or a cache's entry" },
  );
  return pick?.label;
}
