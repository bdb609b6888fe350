/**
 * Heatmap panels for tensor variables: one WebviewPanel per notebook and variable, titled with the
 * variable's name, drawing the slice the kernel gives (dist/renderers/variable-panel.js, the same
 * browser code and theme colours as the notebook's views). The page's slice stepper asks here for
 * another slice, which is asked of the kernel; after a cell runs the panel is sent its variable again.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import type { VariableViewOutcome } from "../host";
import type { VariableSliceAnswer, VariableSliceRequest } from "../protocol";
import type { KernelManager } from "./kernels";

export const VARIABLE_PANEL_TYPE = "steer.variableHeatmap";

interface Panel {
  notebook: vscode.NotebookDocument;
  name: string;
  /** the leading indices last shown (kept across refreshes) */
  slice: number[];
  panel: vscode.WebviewPanel;
}

export class VariablePanels implements vscode.Disposable {
  private readonly panels = new Map<string, Panel>();
  private readonly bundles: vscode.Uri;

  constructor(private readonly kernels: KernelManager, extensionPath: string) {
    this.bundles = vscode.Uri.file(path.join(extensionPath, "dist", "renderers"));
  }

  /** Shows `name` of the notebook's kernel in its panel, opening one if there is none. */
  async open(notebook: vscode.NotebookDocument, name: string): Promise<void> {
    const key = `${notebook.uri.toString()}\n${name}`;
    const existing = this.panels.get(key);
    if (existing) {
      existing.panel.reveal();
      return this.send(existing);
    }
    const panel = vscode.window.createWebviewPanel(VARIABLE_PANEL_TYPE, name, vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [this.bundles],
    });
    const entry: Panel = { notebook, name, slice: [], panel };
    this.panels.set(key, entry);
    panel.webview.html = this.html(panel.webview);
    panel.onDidDispose(() => this.panels.delete(key));
    // The page says when it has loaded (again, after it was hidden), then gets its slice.
    panel.webview.onDidReceiveMessage((m: unknown) => {
      const type = typeof m === "object" && m !== null ? (m as { type?: unknown }).type : undefined;
      if (type === "steer.variable-ready") void this.send(entry);
      else if (type === "steer.variable-slice") void this.answer(entry, m as VariableSliceRequest);
    });
  }

  /** Sends each of the notebook's panels its variable again (a cell ran, or the kernel stopped). */
  refresh(notebook: vscode.NotebookDocument): void {
    for (const entry of this.panels.values()) if (entry.notebook === notebook) void this.send(entry);
  }

  dispose(): void {
    for (const entry of [...this.panels.values()]) entry.panel.dispose();
  }

  private async send(entry: Panel): Promise<void> {
    const outcome = await this.ask(entry, entry.slice);
    // A tensor that lost leading axes (re-assigned in a cell) is shown from its first slice.
    const retried = outcome.status === "error" && entry.slice.length ? await this.ask(entry, []) : outcome;
    if (retried.status === "ok") entry.slice = retried.view.slice;
    await entry.panel.webview.postMessage(answerOf(retried));
  }

  private async answer(entry: Panel, request: VariableSliceRequest): Promise<void> {
    const outcome = await this.ask(entry, Array.isArray(request.slice) ? request.slice : []);
    if (outcome.status === "ok") entry.slice = outcome.view.slice;
    await entry.panel.webview.postMessage(answerOf(outcome, request.requestId));
  }

  private ask(entry: Panel, slice: number[]): Promise<VariableViewOutcome> {
    const client = this.kernels.get(entry.notebook);
    if (!client || entry.notebook.isClosed) return Promise.resolve({ status: "no-kernel", message: "" });
    return client.variableView(entry.name, slice);
  }

  private html(webview: vscode.Webview): string {
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.bundles, "variable-panel.js"));
    // The views add their styles as <style> elements at run time, hence 'unsafe-inline' for styles only.
    const csp = `default-src 'none'; script-src ${webview.cspSource}; style-src ${webview.cspSource} 'unsafe-inline'; font-src ${webview.cspSource}`;
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head><body><div id="steer-variable"></div>
<script type="module" src="${script.toString()}"></script>
</body></html>`;
  }
}

function answerOf(outcome: VariableViewOutcome, requestId?: string): VariableSliceAnswer {
  const message = outcome.status === "no-kernel"
    ? "This notebook has no running kernel (it stopped, or was restarted): run a cell that makes the variable, then refresh."
    : outcome.status === "ok" ? "" : outcome.message;
  return {
    type: "steer.variable-view",
    ...(requestId !== undefined ? { requestId } : {}),
    outcome: outcome.status === "ok" ? { ok: true, view: outcome.view } : { ok: false, message },
  };
}
