/**
 * Relays messages between the `steer-renderer` webviews and the kernel of the notebook they belong to,
 * so a click in a view (a token, a heatmap cell) can reach cell code and its answer can come back.
 */
import * as vscode from "vscode";
import type { KernelManager } from "./kernels";

export const RENDERER_ID = "steer-renderer";

export class RendererBroker implements vscode.Disposable {
  private readonly messaging = vscode.notebooks.createRendererMessaging(RENDERER_ID);
  private readonly subscriptions: vscode.Disposable[];

  constructor(kernels: KernelManager) {
    this.subscriptions = [
      this.messaging.onDidReceiveMessage(({ editor, message }) => {
        const delivered = kernels.get(editor.notebook)?.postRendererMessage(RENDERER_ID, message) ?? false;
        // Tell the view instead of dropping the message, so it can say why nothing happened.
        if (!delivered) void this.messaging.postMessage({ type: "kernel-unavailable", request: message }, editor);
      }),
      kernels.onRendererMessage(({ notebook, rendererId, message }) => {
        if (rendererId !== RENDERER_ID) return;
        for (const editor of vscode.window.visibleNotebookEditors) {
          if (editor.notebook === notebook) void this.messaging.postMessage(message, editor);
        }
      }),
    ];
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}
