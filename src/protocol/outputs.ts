/**
 * Cell outputs as they travel between kernel, host and renderers, and as they are stored in a
 * `.steer-nb` file. `data` is a string for text mimes, a JSON value for `+json` mimes (and
 * `application/json`), and base64 for binary mimes (images other than SVG, octet streams).
 */
export interface OutputItem {
  mime: string;
  data: unknown;
}

export interface CellOutput {
  items: OutputItem[];
  /** Free-form, kept across save and load (for example `{ "stream": "stdout" }`). */
  metadata?: Record<string, unknown>;
}

export type MimeEncoding = "text" | "json" | "base64";

/** The mimes of console text and errors (VS Code's own, so its built-in views show them). */
export const STDOUT_MIME = "application/vnd.code.notebook.stdout";
export const STDERR_MIME = "application/vnd.code.notebook.stderr";
export const ERROR_MIME = "application/vnd.code.notebook.error";
export const STREAM_MIMES: readonly string[] = [STDOUT_MIME, STDERR_MIME];

/** The keys of an output and of an item; anything else is an unknown field that must survive. */
export const OUTPUT_KEYS: readonly string[] = ["items", "metadata"];
export const ITEM_KEYS: readonly string[] = ["mime", "data"];

/** Languages of code cells the kernel runs (esbuild compiles both). */
export const RUNNABLE_LANGUAGES: readonly string[] = ["typescript", "javascript"];

export interface OutputError {
  name: string;
  message: string;
  stack?: string;
}

/** The output VS Code shows for an error (`NotebookCellOutputItem.error` uses the same mime and shape). */
export function errorOutput(error: OutputError): CellOutput {
  return { items: [{ mime: ERROR_MIME, data: { name: error.name, message: error.message, stack: error.stack ?? "" } }] };
}

/** Appends an output, merging console text into the previous output of the same stream, as a terminal shows it. */
export function appendOutput(outputs: CellOutput[], output: CellOutput): void {
  const last = outputs[outputs.length - 1];
  const item = output.items.length === 1 ? output.items[0] : undefined;
  const lastItem = last?.items.length === 1 ? last.items[0] : undefined;
  if (item && lastItem && STREAM_MIMES.includes(item.mime) && item.mime === lastItem.mime) {
    outputs[outputs.length - 1] = { ...last, items: [{ mime: item.mime, data: String(lastItem.data) + String(item.data) }] };
    return;
  }
  outputs.push(output);
}

/** The metadata key naming an output's display id: a later output with the same id replaces it. */
export const DISPLAY_ID_KEY = "displayId";

export function displayIdOf(output: CellOutput): string | undefined {
  const id = output.metadata?.[DISPLAY_ID_KEY];
  return typeof id === "string" ? id : undefined;
}

/** The display ids of the kernel's progress bars (steer.progress, sweeps): an HTML bar and its text/plain twin. */
export const PROGRESS_ID_PREFIX = "steer-progress-";

export function isProgressOutput(output: CellOutput): boolean {
  return displayIdOf(output)?.startsWith(PROGRESS_ID_PREFIX) ?? false;
}

/** Puts a replacement where the output with its display id is (appends it when there is none); appends anything else. */
export function placeOutput(outputs: CellOutput[], output: CellOutput, replace: boolean): void {
  const id = replace ? displayIdOf(output) : undefined;
  const at = id === undefined ? -1 : outputs.findIndex((o) => displayIdOf(o) === id);
  if (at >= 0) outputs[at] = output;
  else appendOutput(outputs, output);
}

/** Text made safe to place inside HTML (element content or a quoted attribute). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** How a mime's `data` is encoded in messages and in the file. */
export function mimeEncoding(mime: string): MimeEncoding {
  if (mime === "application/json" || mime.endsWith("+json")) return "json";
  if (mime.startsWith("text/") || mime === "image/svg+xml" || mime.endsWith("+xml")) return "text";
  if (STREAM_MIMES.includes(mime)) return "text";
  if (mime === ERROR_MIME) return "json";
  return "base64";
}
