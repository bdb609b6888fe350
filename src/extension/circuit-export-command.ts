/**
 * Circuit exports, host side. The lens exporters run in the kernel (the extension may not import the
 * lens), so a request (from the circuit view's buttons, or the command "Steer: Export Circuit Diagram"
 * on the selected cell) goes to the kernel, and its answer ("steer.export-result") comes back here:
 * the file is written next to the notebook, named after the notebook and the cell, the user is told,
 * and the view that asked hears where it went ("steer.export-saved").
 */
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { outputIdOf, selectedCell } from "./cells";
import {
  CIRCUIT_EXPORT_FORMATS,
  VIEW_MIMES,
  VIEW_RENDERERS,
  type CircuitExportFormat,
  type CircuitView,
  type ExportCircuitRequest,
  type ExportResult,
  type ExportSaved,
} from "../protocol";
import { exportFileName } from "./circuit-export-name";
import type { KernelManager } from "./kernels";
import { NOTEBOOK_TYPE } from "./serializer";

/** How long an export may take in the kernel before its request is forgotten. */
const EXPORT_TIMEOUT_MS = 120_000;

const FORMAT_PICKS: { label: string; description: string; format: CircuitExportFormat }[] = [
  { label: "SVG", description: "vector image (Graphviz layout)", format: "svg" },
  { label: "PNG", description: "raster image", format: "png" },
  { label: "DOT", description: "Graphviz source", format: "dot" },
  { label: "Mermaid", description: "Mermaid flowchart source", format: "mermaid" },
  { label: "EAP-IG JSON", description: "the graph as EAP-IG's Graph.to_json writes it", format: "json" },
];

interface Pending {
  notebook: vscode.NotebookDocument;
  cell?: vscode.NotebookCell;
  /** tells whoever asked (the view) where the file went */
  reply?: (saved: ExportSaved) => void;
  settle: (path: string | Error) => void;
  timer: NodeJS.Timeout;
}

export function isExportRequest(message: unknown): message is ExportCircuitRequest {
  const m = message as Partial<ExportCircuitRequest> | null;
  return typeof m === "object" && m !== null && m.type === "steer.export-circuit" && typeof m.requestId === "string";
}

function isExportResult(message: unknown): message is ExportResult {
  const m = message as Partial<ExportResult> | null;
  return typeof m === "object" && m !== null && m.type === "steer.export-result" && typeof m.requestId === "string";
}

export class CircuitExporter implements vscode.Disposable {
  private readonly pending = new Map<string, Pending>();
  private readonly command: vscode.Disposable;

  constructor(private readonly kernels: KernelManager) {
    this.command = vscode.commands.registerCommand("steer.exportCircuit", (arg?: unknown) => this.exportSelectedCell(arg));
  }

  /**
   * A request delivered to the notebook's kernel: remember where its answer goes. Resolves with the
   * written file's path, or rejects with why there is none.
   */
  track(request: ExportCircuitRequest, notebook: vscode.NotebookDocument, cell: vscode.NotebookCell | undefined, reply?: (saved: ExportSaved) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request.requestId);
        const message = `the kernel did not answer within ${EXPORT_TIMEOUT_MS / 1000} s (is the kernel busy running a cell?)`;
        reply?.({ type: "steer.export-saved", requestId: request.requestId, format: request.format, outcome: { ok: false, message } });
        reject(new Error(message));
      }, EXPORT_TIMEOUT_MS);
      timer.unref();
      this.pending.set(request.requestId, { notebook, cell, reply, timer, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  /** A message from a kernel: true when it was an export result (written here, not passed to views). */
  handleKernelMessage(notebook: vscode.NotebookDocument, message: unknown): boolean {
    if (!isExportResult(message)) return false;
    const p = this.pending.get(message.requestId);
    if (!p || p.notebook !== notebook) return true;
    this.pending.delete(message.requestId);
    clearTimeout(p.timer);
    void this.save(p, message);
    return true;
  }

  private async save(p: Pending, result: ExportResult): Promise<void> {
    const answer = (outcome: ExportSaved["outcome"]) => p.reply?.({ type: "steer.export-saved", requestId: result.requestId, format: result.format, outcome });
    try {
      if (!result.ok) throw new Error(result.message);
      const uri = exportUri(p.notebook, p.cell, result.format, result.fileName);
      const bytes = result.encoding === "base64" ? Buffer.from(result.data, "base64") : Buffer.from(result.data, "utf8");
      await vscode.workspace.fs.writeFile(uri, bytes);
      const shown = vscode.workspace.asRelativePath(uri, false);
      answer({ ok: true, path: uri.scheme === "file" ? uri.fsPath : uri.toString() });
      p.settle(shown);
      void vscode.window.showInformationMessage(`Steer: circuit exported to ${shown}`, "Open").then((pick) => {
        if (pick === "Open") void vscode.commands.executeCommand("vscode.open", uri);
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      answer({ ok: false, message });
      p.settle(new Error(message));
      void vscode.window.showErrorMessage(`Steer: the circuit export failed: ${message}`);
    }
  }

  /** "Steer: Export Circuit Diagram": the selected cell's circuit output, in a format picked from a list. */
  private async exportSelectedCell(arg: unknown): Promise<void> {
    const cell = targetCell(arg);
    if (!cell) {
      void vscode.window.showWarningMessage("Steer: select a cell of a .steer-nb notebook whose output is a circuit, then run Export Circuit Diagram.");
      return;
    }
    const found = circuitOutput(cell);
    if (!found) {
      void vscode.window.showWarningMessage(`Steer: cell ${cell.index + 1} has no circuit output (${VIEW_MIMES.circuit}); run a cell that shows a circuit (steer.circuit(...)) and select it.`);
      return;
    }
    const pick = await vscode.window.showQuickPick(FORMAT_PICKS, { title: "Export the circuit as", placeHolder: "format" });
    if (!pick) return;
    const request: ExportCircuitRequest = { type: "steer.export-circuit", requestId: randomUUID(), outputId: found.outputId, format: pick.format, circuit: found.circuit };
    const kernel = this.kernels.get(cell.notebook);
    if (!kernel?.postRendererMessage(VIEW_RENDERERS.circuit, request)) {
      void vscode.window.showWarningMessage("Steer: no kernel is running for this notebook, and the kernel writes the export: run a cell first.");
      return;
    }
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Steer: exporting the circuit as ${pick.label}...` },
      () => this.track(request, cell.notebook, cell).catch(() => undefined),
    );
  }

  dispose(): void {
    this.command.dispose();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
}

function exportUri(notebook: vscode.NotebookDocument, cell: vscode.NotebookCell | undefined, format: CircuitExportFormat, suggested: string): vscode.Uri {
  if (!CIRCUIT_EXPORT_FORMATS.includes(format)) throw new Error(`the kernel answered with an unknown format ${JSON.stringify(format)}`);
  return vscode.Uri.joinPath(notebook.uri, "..", exportFileName(notebook.uri.path, cell?.index, format, suggested));
}

function circuitOutput(cell: vscode.NotebookCell): { outputId: string; circuit: CircuitView } | undefined {
  for (const output of cell.outputs) {
    const item = output.items.find((i) => i.mime === VIEW_MIMES.circuit);
    if (item) return { outputId: outputIdOf(output) ?? "", circuit: JSON.parse(new TextDecoder().decode(item.data)) as CircuitView };
  }
  return undefined;
}

/** A cell passed by a cell menu, else the active notebook's selected cell. */
function targetCell(arg: unknown): vscode.NotebookCell | undefined {
  const given = arg as Partial<vscode.NotebookCell> | undefined;
  if (given && typeof given === "object" && given.notebook && typeof given.index === "number") {
    return given.notebook.notebookType === NOTEBOOK_TYPE ? (given as vscode.NotebookCell) : undefined;
  }
  const editor = vscode.window.activeNotebookEditor;
  if (!editor || editor.notebook.notebookType !== NOTEBOOK_TYPE) return undefined;
  return selectedCell(editor);
}
