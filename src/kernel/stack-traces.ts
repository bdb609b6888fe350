/**
 * Stack traces in the cell's own terms: frames of compiled cell scripts are mapped back to the
 * cell's TypeScript (`cell-3.ts:4:7`), and frames inside the kernel itself are left out. Installed
 * as V8's Error.prepareStackTrace, so errors the user prints (console.error(err)) read the same.
 */
import type { CellError } from "../protocol";
import type { CompiledCell } from "./compiler";

interface CellScript {
  cellFile: string;
  compiled: CompiledCell;
}

/** Compiled scripts by their vm file name; kept for the kernel's life, functions outlive cells. */
const scripts = new Map<string, CellScript>();
let scriptCounter = 0;

/** A unique vm file name for one compilation of one cell. */
export function registerCellScript(cellFile: string, compiled: CompiledCell): string {
  const scriptFile = `steer-cell-${++scriptCounter}.js`;
  scripts.set(scriptFile, { cellFile, compiled });
  return scriptFile;
}

function isKernelInternal(file: string | undefined | null, kernelFile: string): boolean {
  if (!file) return false;
  return file === kernelFile || file.startsWith("node:internal") || file === "node:vm";
}

function formatCellFrame(frame: NodeJS.CallSite, cell: CellScript): string {
  const line = frame.getLineNumber();
  const column = frame.getColumnNumber();
  const pos = line !== null && column !== null ? cell.compiled.originalPosition(line, column) : undefined;
  const location = pos ? `${cell.cellFile}:${pos.line}:${pos.column}` : cell.cellFile;
  let name = frame.getFunctionName();
  if (!name && frame.getMethodName()) name = `${frame.getTypeName() ?? "<anonymous>"}.${frame.getMethodName()}`;
  const prefix = (frame.isAsync() ? "async " : "") + (frame.isConstructor() ? "new " : "");
  return name ? `${prefix}${name} (${location})` : `${prefix}${location}`;
}

function header(error: unknown): string {
  try {
    return Error.prototype.toString.call(error);
  } catch {
    return "Error";
  }
}

/** `kernelFile` is the kernel bundle's own path: frames in it are kernel internals. */
export function installStackTraces(kernelFile: string): void {
  Error.prepareStackTrace = (error, frames) => {
    const lines: string[] = [];
    for (const frame of frames) {
      const file = frame.getFileName();
      const cell = file ? scripts.get(file) : undefined;
      if (cell) {
        if (frame.getLineNumber() !== cell.compiled.wrapperLine) lines.push(formatCellFrame(frame, cell));
      }
      else if (!isKernelInternal(file, kernelFile)) lines.push(frame.toString());
    }
    return header(error) + lines.map((l) => `\n    at ${l}`).join("");
  };
}

/** The error of a failed cell as the protocol carries it. */
export function toCellError(thrown: unknown): CellError {
  if (thrown instanceof Error) {
    return { name: thrown.name, message: thrown.message, stack: typeof thrown.stack === "string" ? thrown.stack : undefined };
  }
  if (thrown !== null && typeof thrown === "object" && "message" in thrown) {
    const o = thrown as { name?: unknown; message: unknown };
    return { name: typeof o.name === "string" ? o.name : "Error", message: String(o.message) };
  }
  return { name: "Uncaught", message: describeThrown(thrown) };
}

function describeThrown(value: unknown): string {
  try {
    return typeof value === "string" ? value : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
