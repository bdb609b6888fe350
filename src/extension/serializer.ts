/**
 * VS Code's view of a `.steer-nb` file. Parsing and writing are src/protocol/format.ts; this file only
 * maps between its NotebookData and VS Code's, keeping what VS Code has no place for (unknown keys,
 * the duration of a run loaded from disk) in private metadata so that a save writes it back.
 */
import * as vscode from "vscode";
import {
  NOTEBOOK_FORMAT,
  parseNotebook,
  serializeNotebook,
  type CellExecution,
  type NotebookCellData,
  type NotebookData,
} from "../protocol";
import { outputFromVscode, outputToVscode, ROUND_TRIP_KEY, unknownKeys } from "./outputs";

export const NOTEBOOK_TYPE = "steer-notebook";

const TOP_KEYS = ["format", "metadata", "cells"];
const CELL_KEYS = ["kind", "language", "source", "metadata", "execution", "outputs"];
const EXECUTION_KEYS = ["order", "success", "durationMs"];

interface CellRoundTrip {
  extra?: Record<string, unknown>;
  /** Unknown keys of `execution`, and its duration when the run was loaded from disk (no timing in VS Code). */
  execution?: Record<string, unknown> & { durationMs?: number };
}

export class SteerNotebookSerializer implements vscode.NotebookSerializer {
  /** `onOpenError` gets the parser's message when a file cannot be read. */
  constructor(private readonly onOpenError: (message: string) => void = () => {}) {}

  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    let nb: NotebookData;
    try {
      nb = parseNotebook(new TextDecoder().decode(content), "This .steer-nb file");
    } catch (e) {
      const problem = (e as Error).message.replace(/\.?$/, ".");
      const message = `${problem} Fix it in a text editor (Open in Text Editor) and open it again; Steer Notebooks does not write to a file it could not read.`;
      this.onOpenError(message);
      // Throwing makes VS Code show its error editor; no notebook document exists, so nothing can save over the file.
      throw new Error(message);
    }
    return notebookToVscode(nb);
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    return new TextEncoder().encode(serializeNotebook(notebookFromVscode(data)));
  }
}

export function notebookToVscode(nb: NotebookData): vscode.NotebookData {
  const data = new vscode.NotebookData(nb.cells.map(cellToVscode));
  const extra = unknownKeys(nb, TOP_KEYS);
  data.metadata = extra ? { ...nb.metadata, [ROUND_TRIP_KEY]: { extra } } : { ...nb.metadata };
  return data;
}

export function notebookFromVscode(data: vscode.NotebookData): NotebookData {
  const { [ROUND_TRIP_KEY]: stored, ...metadata } = data.metadata ?? {};
  const nb: NotebookData = { format: NOTEBOOK_FORMAT, metadata, cells: data.cells.map(cellFromVscode) };
  return Object.assign(nb, (stored as { extra?: Record<string, unknown> } | undefined)?.extra);
}

function cellToVscode(c: NotebookCellData): vscode.NotebookCellData {
  const kind = c.kind === "code" ? vscode.NotebookCellKind.Code : vscode.NotebookCellKind.Markup;
  const cell = new vscode.NotebookCellData(kind, c.source, c.language);
  cell.outputs = c.outputs.map(outputToVscode);
  const roundTrip: CellRoundTrip = {};
  const extra = unknownKeys(c, CELL_KEYS);
  if (extra) roundTrip.extra = extra;
  if (c.execution) {
    cell.executionSummary = { executionOrder: c.execution.order, success: c.execution.success };
    roundTrip.execution = { ...unknownKeys(c.execution, EXECUTION_KEYS), durationMs: c.execution.durationMs };
  }
  cell.metadata = Object.keys(roundTrip).length ? { ...c.metadata, [ROUND_TRIP_KEY]: roundTrip } : { ...c.metadata };
  return cell;
}

function cellFromVscode(cell: vscode.NotebookCellData): NotebookCellData {
  const { [ROUND_TRIP_KEY]: stored, ...metadata } = cell.metadata ?? {};
  const roundTrip = (stored ?? {}) as CellRoundTrip;
  const isCode = cell.kind === vscode.NotebookCellKind.Code;
  const out: NotebookCellData = {
    kind: isCode ? "code" : "markdown",
    language: cell.languageId || (isCode ? "typescript" : "markdown"),
    source: cell.value,
    metadata,
    outputs: (cell.outputs ?? []).map(outputFromVscode),
  };
  const summary = cell.executionSummary;
  if (summary?.executionOrder !== undefined && summary.success !== undefined) {
    const { durationMs: storedDuration, ...executionExtra } = roundTrip.execution ?? {};
    const durationMs = summary.timing ? summary.timing.endTime - summary.timing.startTime : (storedDuration ?? 0);
    const execution: CellExecution = { order: summary.executionOrder, success: summary.success, durationMs };
    out.execution = Object.assign(execution, executionExtra);
  }
  return Object.assign(out, roundTrip.extra);
}
