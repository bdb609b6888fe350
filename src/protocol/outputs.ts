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

/** How a mime's `data` is encoded in messages and in the file. */
export function mimeEncoding(mime: string): MimeEncoding {
  if (mime === "application/json" || mime.endsWith("+json")) return "json";
  if (mime.startsWith("text/") || mime === "image/svg+xml" || mime.endsWith("+xml")) return "text";
  if (mime === "application/vnd.code.notebook.stdout" || mime === "application/vnd.code.notebook.stderr") return "text";
  if (mime === "application/vnd.code.notebook.error") return "json";
  return "base64";
}

/** The product's own rich output types. Each has a renderer in `renderers/`. */
export const STEER_MIME_PREFIX = "application/vnd.steer.";
