/** Helpers for hosts that store outputs themselves (the CLI; the extension for late outputs). */
import type { CellError, CellOutput } from "../protocol";

export const ERROR_MIME = "application/vnd.code.notebook.error";
const STREAM_MIMES = new Set(["application/vnd.code.notebook.stdout", "application/vnd.code.notebook.stderr"]);

/** The output VS Code shows for an error (`NotebookCellOutputItem.error` uses the same mime and shape). */
export function errorOutput(error: CellError): CellOutput {
  return { items: [{ mime: ERROR_MIME, data: { name: error.name, message: error.message, stack: error.stack ?? "" } }] };
}

/** Appends an output, merging console text into the previous output of the same stream. */
export function appendOutput(outputs: CellOutput[], output: CellOutput): void {
  const last = outputs[outputs.length - 1];
  const item = output.items.length === 1 ? output.items[0] : undefined;
  const lastItem = last?.items.length === 1 ? last.items[0] : undefined;
  if (item && lastItem && STREAM_MIMES.has(item.mime) && item.mime === lastItem.mime) {
    outputs[outputs.length - 1] = { ...last, items: [{ mime: item.mime, data: String(lastItem.data) + String(item.data) }] };
    return;
  }
  outputs.push(output);
}
