/**
 * One kernel client per open notebook, created on its first run. The client (src/host) starts the
 * process in the notebook's folder with the extension host's own Node (Electron's binary in node mode
 * in desktop VS Code, code-server's Node in the browser build), restarts it after a death on the next
 * run, and ends every request with a typed outcome. Kernel logs go to the "Steer Kernel" output channel.
 */
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import { KernelClient, type KernelState } from "../host";
import type { LoadedModelInfo } from "../protocol";

export type { KernelState };

export interface KernelStateChange {
  notebook: vscode.NotebookDocument;
  state: KernelState;
}

export interface RendererMessageFromKernel {
  notebook: vscode.NotebookDocument;
  rendererId: string;
  message: unknown;
}

export class KernelManager implements vscode.Disposable {
  private readonly kernels = new Map<vscode.NotebookDocument, KernelClient>();
  private readonly stateEmitter = new vscode.EventEmitter<KernelStateChange>();
  private readonly rendererEmitter = new vscode.EventEmitter<RendererMessageFromKernel>();
  /** The model each notebook's kernel loaded last; gone with the kernel. */
  private readonly models = new Map<vscode.NotebookDocument, LoadedModelInfo>();
  private readonly modelEmitter = new vscode.EventEmitter<vscode.NotebookDocument>();
  private readonly log = vscode.window.createOutputChannel("Steer Kernel", { log: true });
  private readonly subscriptions: vscode.Disposable[] = [];
  readonly onDidChangeState = this.stateEmitter.event;
  readonly onRendererMessage = this.rendererEmitter.event;
  /** A notebook's kernel loaded a model (`model(notebook)` says which). */
  readonly onDidLoadModel = this.modelEmitter.event;

  constructor(private readonly extensionPath: string) {
    this.subscriptions.push(vscode.workspace.onDidCloseNotebookDocument((nb) => void this.shutdown(nb)));
  }

  get(notebook: vscode.NotebookDocument): KernelClient | undefined {
    return this.kernels.get(notebook);
  }

  state(notebook: vscode.NotebookDocument): KernelState {
    return this.kernels.get(notebook)?.state ?? "not-started";
  }

  /** The model the notebook's running kernel loaded last, if any. */
  model(notebook: vscode.NotebookDocument): LoadedModelInfo | undefined {
    return this.models.get(notebook);
  }

  /** The notebook's kernel client; its process starts on the first execute. */
  client(notebook: vscode.NotebookDocument): KernelClient {
    const existing = this.kernels.get(notebook);
    if (existing) return existing;
    const client = new KernelClient({
      execPath: process.execPath,
      kernelPath: path.join(this.extensionPath, "dist", "kernel.js"),
      cwd: notebookFolder(notebook),
      // Desktop VS Code's execPath is Electron, which runs as plain Node with this; Node ignores it.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: "1" },
    });
    this.kernels.set(notebook, client);
    const name = path.basename(notebook.uri.path);
    client.onDidChangeState((state) => {
      this.log.info(`${name}: kernel ${state}${state === "idle" && client.pid ? ` (pid ${client.pid})` : ""}`);
      if (state === "starting" || state === "dead") this.models.delete(notebook);
      this.stateEmitter.fire({ notebook, state });
    });
    client.onDidLoadModel((model) => {
      this.models.set(notebook, model);
      this.modelEmitter.fire(notebook);
    });
    client.onDidReceiveRendererMessage((m) => this.rendererEmitter.fire({ notebook, rendererId: m.rendererId, message: m.message }));
    client.onDidLog((entry) => {
      const line = `${name} [${entry.source}] ${entry.message}`;
      if (entry.level === "error") this.log.error(line);
      else if (entry.level === "warn") this.log.warn(line);
      else this.log.info(line);
    });
    // Output from a cell that already finished (a timer it left running) has no cell execution to go to.
    client.onDidReceiveLateOutput(({ output }) => {
      const text = output.items.map((i) => (typeof i.data === "string" ? i.data : JSON.stringify(i.data))).join(" ");
      this.log.info(`${name}: output after its cell finished: ${text.slice(0, 2000)}`);
    });
    return client;
  }

  async shutdown(notebook: vscode.NotebookDocument): Promise<void> {
    const client = this.kernels.get(notebook);
    if (!client) return;
    this.kernels.delete(notebook);
    this.models.delete(notebook);
    await client.dispose();
    this.stateEmitter.fire({ notebook, state: "dead" });
  }

  async dispose(): Promise<void> {
    for (const s of this.subscriptions.splice(0)) s.dispose();
    await Promise.allSettled([...this.kernels.keys()].map((nb) => this.shutdown(nb)));
    this.stateEmitter.dispose();
    this.rendererEmitter.dispose();
    this.modelEmitter.dispose();
    this.log.dispose();
  }
}

/** The kernel's working directory: the notebook's folder, so relative paths in cells resolve beside it. */
function notebookFolder(notebook: vscode.NotebookDocument): string {
  if (notebook.uri.scheme === "file") return path.dirname(notebook.uri.fsPath);
  const folder = vscode.workspace.getWorkspaceFolder(notebook.uri) ?? vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === "file" ? folder.uri.fsPath : os.homedir();
}
