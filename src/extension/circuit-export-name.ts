/** The name of a circuit export next to its notebook; no vscode here, so tests can import it. */
import { CIRCUIT_EXPORT_EXTENSIONS as EXTENSION, type CircuitExportFormat } from "../protocol";

/**
 * `<notebook>.cell<N>.<the kernel's name>`, e.g. "ioi.cell3.circuit.svg" for cell index 2. Only the
 * last segment of the kernel's name is kept, in safe characters, so a file never leaves the folder.
 */
export function exportFileName(notebookPath: string, cellIndex: number | undefined, format: CircuitExportFormat, suggested: string): string {
  const base = notebookPath.split(/[\\/]/).pop()!.replace(/\.steer-nb$/, "");
  let name = (suggested.split(/[\\/]/).pop() ?? "").replace(/[^\w.-]+/g, "_").replace(/^\.+/, "");
  if (!name) name = "circuit";
  if (!name.toLowerCase().endsWith(`.${EXTENSION[format]}`)) name += `.${EXTENSION[format]}`;
  return `${base}${cellIndex === undefined ? "" : `.cell${cellIndex + 1}`}.${name}`;
}
