/**
 * The `.steer-nb` file format (docs/format.md): UTF-8 JSON, 2-space indent, trailing newline, known
 * keys in a fixed order followed by unknown keys in their original order, so saves are byte-stable
 * and git diffs stay small. Unknown keys at every level survive load and save: a newer version's
 * additions are never dropped by an older build.
 */
import { findJsonSyntaxError } from "./json-syntax";
import { ITEM_KEYS, mimeEncoding, OUTPUT_KEYS, type CellOutput, type OutputItem } from "./outputs";

export const NOTEBOOK_FORMAT = "steer-nb/1";
/** Every format string this build reads. */
export const SUPPORTED_FORMATS: readonly string[] = [NOTEBOOK_FORMAT];

export type CellKind = "code" | "markdown";

export interface CellExecution {
  /** Execution counter of the kernel that ran the cell (1, 2, ...). */
  order: number;
  success: boolean;
  durationMs: number;
  [unknown: string]: unknown;
}

export interface NotebookCellData {
  kind: CellKind;
  language: string;
  source: string;
  metadata: Record<string, unknown>;
  outputs: CellOutput[];
  execution?: CellExecution;
  [unknown: string]: unknown;
}

export interface NotebookData {
  format: typeof NOTEBOOK_FORMAT;
  metadata: Record<string, unknown>;
  cells: NotebookCellData[];
  [unknown: string]: unknown;
}

export class NotebookFormatError extends Error {
  override readonly name = "NotebookFormatError";
  constructor(
    message: string,
    /** Where in the document, e.g. `cells[2].kind`; empty for the whole file. */
    readonly path: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

const TOP_KEYS = ["format", "metadata", "cells"];
const CELL_KEYS = ["kind", "language", "source", "metadata", "execution", "outputs"];
const EXECUTION_KEYS = ["order", "success", "durationMs"];

const DEFAULT_LANGUAGE: Record<CellKind, string> = { code: "typescript", markdown: "markdown" };

export function emptyNotebook(): NotebookData {
  return { format: NOTEBOOK_FORMAT, metadata: {}, cells: [] };
}

/** Parses a `.steer-nb` text. Throws NotebookFormatError naming the file, the place and the problem. */
export function parseNotebook(text: string, fileName = "notebook"): NotebookData {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  // VS Code creates new notebooks as empty files.
  if (body.trim() === "") return emptyNotebook();

  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    const p = findJsonSyntaxError(body);
    if (!p) throw new NotebookFormatError(`${fileName}: invalid JSON: ${(e as Error).message}`, "");
    throw new NotebookFormatError(`${fileName}:${p.line}:${p.column}: invalid JSON: ${p.message}`, "", p.line, p.column);
  }
  return new Reader(fileName).notebook(raw);
}

class Reader {
  constructor(private readonly fileName: string) {}

  private fail(path: string, problem: string): never {
    throw new NotebookFormatError(`${this.fileName}: ${path || "the file"} ${problem}`, path);
  }

  private object(v: unknown, path: string): Record<string, unknown> {
    if (!isObject(v)) this.fail(path, `must be an object, got ${kindOf(v)}`);
    return v as Record<string, unknown>;
  }

  private array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `must be an array, got ${kindOf(v)}`);
    return v as unknown[];
  }

  private required(o: Record<string, unknown>, key: string, path: string): unknown {
    if (!(key in o)) this.fail(path, `is missing the required field "${key}"`);
    return o[key];
  }

  notebook(raw: unknown): NotebookData {
    if (!isObject(raw)) this.fail("", `must contain a JSON object, got ${kindOf(raw)}`);
    const o = raw as Record<string, unknown>;
    if (!("format" in o)) {
      const hint = "nbformat" in o ? " This looks like a Jupyter notebook (.ipynb), not a Steer notebook." : "";
      this.fail("", `is missing the required field "format" (expected "${NOTEBOOK_FORMAT}").${hint}`);
    }
    const format = o.format;
    if (typeof format !== "string" || !SUPPORTED_FORMATS.includes(format)) {
      if (typeof format === "string" && /^steer-nb\/\d+$/.test(format)) {
        this.fail(
          "",
          `has format "${format}", but this build of Steer Notebooks reads only ${SUPPORTED_FORMATS.map((f) => `"${f}"`).join(", ")}. ` +
            "The file was probably written by a newer Steer Notebooks: update the extension (or steer-nb CLI) to open it.",
        );
      }
      this.fail("format", `must be "${NOTEBOOK_FORMAT}", got ${JSON.stringify(format)}`);
    }
    const metadata = "metadata" in o ? this.object(o.metadata, "metadata") : {};
    const cells = this.array(this.required(o, "cells", ""), "cells").map((c, i) => this.cell(c, `cells[${i}]`));
    return withUnknown({ format: NOTEBOOK_FORMAT, metadata, cells }, o, TOP_KEYS);
  }

  private cell(raw: unknown, path: string): NotebookCellData {
    const o = this.object(raw, path);
    const kind = this.required(o, "kind", path);
    if (kind !== "code" && kind !== "markdown") this.fail(`${path}.kind`, `must be "code" or "markdown", got ${JSON.stringify(kind)}`);
    let language = DEFAULT_LANGUAGE[kind];
    if ("language" in o) {
      if (typeof o.language !== "string" || o.language === "") this.fail(`${path}.language`, `must be a non-empty string, got ${JSON.stringify(o.language)}`);
      language = o.language as string;
    }
    const source = "source" in o ? this.source(o.source, `${path}.source`) : "";
    const metadata = "metadata" in o ? this.object(o.metadata, `${path}.metadata`) : {};
    const outputs = "outputs" in o ? this.array(o.outputs, `${path}.outputs`).map((x, j) => this.output(x, `${path}.outputs[${j}]`)) : [];
    const cell: NotebookCellData = { kind, language, source, metadata, outputs };
    if ("execution" in o) cell.execution = this.execution(o.execution, `${path}.execution`);
    return withUnknown(cell, o, CELL_KEYS);
  }

  /** A string, or (as written) an array of lines each ending in "\n" but the last. */
  private source(v: unknown, path: string): string {
    if (typeof v === "string") return v;
    if (Array.isArray(v) && v.every((l) => typeof l === "string")) return v.join("");
    return this.fail(path, `must be a string or an array of strings, got ${kindOf(v)}`);
  }

  private execution(raw: unknown, path: string): CellExecution {
    const o = this.object(raw, path);
    const order = this.required(o, "order", path);
    if (typeof order !== "number" || !Number.isInteger(order) || order < 0) this.fail(`${path}.order`, `must be a non-negative integer, got ${JSON.stringify(order)}`);
    const success = this.required(o, "success", path);
    if (typeof success !== "boolean") this.fail(`${path}.success`, `must be true or false, got ${JSON.stringify(success)}`);
    const durationMs = this.required(o, "durationMs", path);
    if (typeof durationMs !== "number" || !(durationMs >= 0)) this.fail(`${path}.durationMs`, `must be a non-negative number, got ${JSON.stringify(durationMs)}`);
    return withUnknown({ order, success, durationMs } as CellExecution, o, EXECUTION_KEYS);
  }

  private output(raw: unknown, path: string): CellOutput {
    const o = this.object(raw, path);
    const items = this.array(this.required(o, "items", path), `${path}.items`).map((x, k) => this.item(x, `${path}.items[${k}]`));
    const out: CellOutput = { items };
    if ("metadata" in o) out.metadata = this.object(o.metadata, `${path}.metadata`);
    return withUnknown(out, o, OUTPUT_KEYS);
  }

  private item(raw: unknown, path: string): OutputItem {
    const o = this.object(raw, path);
    const mime = this.required(o, "mime", path);
    if (typeof mime !== "string" || !/^[\w.+-]+\/[\w.+-]+$/.test(mime)) this.fail(`${path}.mime`, `must be a mime type like "text/plain", got ${JSON.stringify(mime)}`);
    const data = this.required(o, "data", path);
    const encoding = mimeEncoding(mime as string);
    if (encoding === "text" && typeof data !== "string") this.fail(`${path}.data`, `must be a string for text mime "${mime}", got ${kindOf(data)}`);
    if (encoding === "base64" && (typeof data !== "string" || !isBase64(data))) {
      this.fail(`${path}.data`, `must be a base64 string for binary mime "${mime}", got ${typeof data === "string" ? "a string that is not base64" : kindOf(data)}`);
    }
    return withUnknown({ mime: mime as string, data }, o, ITEM_KEYS);
  }
}

/** Serializes to the canonical text: parseNotebook(serializeNotebook(nb)) deep-equals nb, and re-serializing is byte-identical. */
export function serializeNotebook(nb: NotebookData): string {
  const doc = ordered(nb, TOP_KEYS, { format: NOTEBOOK_FORMAT, metadata: nb.metadata ?? {}, cells: nb.cells.map(cellToJson) });
  return JSON.stringify(doc, null, 2) + "\n";
}

function cellToJson(c: NotebookCellData): Record<string, unknown> {
  const known: Record<string, unknown> = {
    kind: c.kind,
    language: c.language,
    source: sourceLines(c.source),
    metadata: c.metadata ?? {},
  };
  if (c.execution) known.execution = ordered(c.execution, EXECUTION_KEYS, { order: c.execution.order, success: c.execution.success, durationMs: c.execution.durationMs });
  // Markdown cells have no outputs in VS Code; writing `[]` for them would only add noise.
  if (c.kind === "code" || c.outputs.length > 0) known.outputs = c.outputs.map(outputToJson);
  return ordered(c, CELL_KEYS, known);
}

function outputToJson(o: CellOutput): Record<string, unknown> {
  const known: Record<string, unknown> = {
    items: o.items.map((it) => ordered(it as unknown as Record<string, unknown>, ITEM_KEYS, { mime: it.mime, data: it.data })),
  };
  if (o.metadata !== undefined) known.metadata = o.metadata;
  return ordered(o as unknown as Record<string, unknown>, OUTPUT_KEYS, known);
}

/** Lines keep their "\n" so that joining them gives back the exact source (CRLF included). */
function sourceLines(source: string): string[] {
  return source === "" ? [] : source.split(/(?<=\n)/);
}

function ordered(from: Record<string, unknown>, knownKeys: readonly string[], known: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of knownKeys) if (known[k] !== undefined) out[k] = known[k];
  for (const [k, v] of Object.entries(from)) if (!knownKeys.includes(k) && v !== undefined) out[k] = v;
  return out;
}

function withUnknown<T extends object>(known: T, raw: Record<string, unknown>, knownKeys: readonly string[]): T {
  const out = known as Record<string, unknown>;
  for (const [k, v] of Object.entries(raw)) if (!knownKeys.includes(k)) out[k] = v;
  return known;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isBase64(s: string): boolean {
  return s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}
