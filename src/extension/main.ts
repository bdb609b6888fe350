/** Entry point of the extension host bundle (dist/extension.js). */
import * as vscode from "vscode";
import { registerKernelCommands } from "./commands";
import { SteerController } from "./controller";
import { registerHtmlExportCommand } from "./html-export-command";
import { KernelManager } from "./kernels";
import { registerModelCommands } from "./model-commands";
import { reportOpenError } from "./open-errors";
import { RendererBroker } from "./renderer-broker";
import { registerSampleCommands } from "./sample-commands";
import { NOTEBOOK_TYPE, SteerNotebookSerializer } from "./serializer";
import { KernelStatusBar } from "./status-bar";
import { registerVariablesView } from "./variables-view";

let kernels: KernelManager | undefined;

export function activate(context: vscode.ExtensionContext): void {
  kernels = new KernelManager(context.extensionPath);
  const controller = new SteerController(kernels);
  context.subscriptions.push(
    vscode.workspace.registerNotebookSerializer(NOTEBOOK_TYPE, new SteerNotebookSerializer(reportOpenError)),
    controller,
    new KernelStatusBar(kernels),
    new RendererBroker(kernels),
    ...registerKernelCommands(controller),
    ...registerSampleCommands(context.extensionPath),
    ...registerModelCommands(),
    registerHtmlExportCommand(),
    ...registerVariablesView(kernels, context.extensionPath),
  );
}

/** Shuts every kernel process down; VS Code waits for the returned promise. */
export async function deactivate(): Promise<void> {
  const k = kernels;
  kernels = undefined;
  await k?.dispose();
}
