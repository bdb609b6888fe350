/**
 * A status bar item with the kernel state of the active Steer notebook and, once its kernel has loaded
 * one, the model (`Steer: idle · toy-circuits (gpt2 F16)`); hidden for other editors.
 */
import * as vscode from "vscode";
import type { KernelManager, KernelState } from "./kernels";
import { NOTEBOOK_TYPE } from "./serializer";

const LOOK: Record<KernelState, { icon: string; tooltip: string }> = {
  "not-started": { icon: "$(circle-outline)", tooltip: "No kernel yet: running a cell starts one." },
  starting: { icon: "$(loading~spin)", tooltip: "The kernel process is starting." },
  idle: { icon: "$(circle-filled)", tooltip: "The kernel is idle." },
  busy: { icon: "$(sync~spin)", tooltip: "The kernel is running a cell. Steer: Interrupt Kernel stops it." },
  dead: { icon: "$(error)", tooltip: "The kernel process has exited; its variables are gone. Running a cell starts a new one." },
};

export class KernelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("steer.kernelState", vscode.StatusBarAlignment.Left, 100);
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly kernels: KernelManager) {
    this.item.name = "Steer kernel state";
    this.subscriptions = [
      vscode.window.onDidChangeActiveNotebookEditor(() => this.update()),
      kernels.onDidChangeState(({ notebook }) => {
        if (notebook === vscode.window.activeNotebookEditor?.notebook) this.update();
      }),
      kernels.onDidLoadModel((notebook) => {
        if (notebook === vscode.window.activeNotebookEditor?.notebook) this.update();
      }),
    ];
    this.update();
  }

  private update(): void {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    if (!notebook || notebook.notebookType !== NOTEBOOK_TYPE) {
      this.item.hide();
      return;
    }
    const state = this.kernels.state(notebook);
    const look = LOOK[state];
    const model = this.kernels.model(notebook);
    // The state comes first: "Steer: idle" is what people (and the end-to-end test) look for.
    this.item.text = `${look.icon} Steer: ${state === "not-started" ? "no kernel" : state}${model ? ` · ${model.name} (${model.architecture} ${model.quantization})` : ""}`;
    this.item.tooltip = model
      ? `${look.tooltip}\nModel: ${model.path}\n${model.architecture}, ${model.nLayers} layers x ${model.nHeads} heads, ${model.quantization}`
      : look.tooltip;
    this.item.command = state === "busy" ? "steer.interruptKernel" : state === "dead" ? "steer.restartKernel" : undefined;
    this.item.show();
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
