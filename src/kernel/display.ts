/**
 * Turning values into cell outputs. Order of rules: an explicit mime; an object's own
 * `toSteerOutput()` (toolkit results and the `steer.html(...)`-style helpers); PNG bytes; plain
 * text for strings and primitives; JSON plus an inspect view for plain objects and arrays; an
 * inspect view for everything else.
 */
import { inspect } from "node:util";
import { mimeEncoding, type CellOutput, type OutputItem } from "../protocol";

/** What `toSteerOutput()` may return: one item or a whole output with several representations. */
export type SteerOutput = OutputItem | CellOutput;

export interface Displayable {
  toSteerOutput(): SteerOutput;
}

/** The `steer.html(...)`, `steer.png(...)`, ... results: a value that displays as one mime. */
export class RichValue implements Displayable {
  constructor(
    readonly mime: string,
    readonly data: unknown,
  ) {}
  toSteerOutput(): OutputItem {
    return { mime: this.mime, data: this.data };
  }
}

export const html = (source: string): RichValue => new RichValue("text/html", String(source));
export const markdown = (source: string): RichValue => new RichValue("text/markdown", String(source));
export const svg = (source: string): RichValue => new RichValue("image/svg+xml", String(source));
export const png = (bytes: Uint8Array | ArrayBuffer | string): RichValue => new RichValue("image/png", encodeBinary(bytes, "image/png"));
export const json = (value: unknown): RichValue => new RichValue("application/json", toJsonData(value, "application/json"));

const JSON_LIMIT = 4 * 1024 * 1024;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const INSPECT = { depth: 4, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 } as const;

export function toCellOutput(value: unknown, mime?: string): CellOutput {
  if (mime !== undefined) return { items: [toItem(mime, value)] };
  if (hasSteerOutput(value)) return fromSteerOutput(value.toSteerOutput());
  if (value instanceof Uint8Array && isPng(value)) return { items: [toItem("image/png", value)] };
  if (typeof value === "string") return text(value);
  if (value === null || typeof value !== "object") return text(inspect(value, INSPECT));
  if (isPlainData(value)) {
    const serialized = tryStringify(value);
    if (serialized !== undefined && serialized.length <= JSON_LIMIT) {
      return { items: [{ mime: "application/json", data: JSON.parse(serialized) }, textItem(inspect(value, INSPECT))] };
    }
  }
  return text(inspect(value, INSPECT));
}

function hasSteerOutput(value: unknown): value is Displayable {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as Displayable).toSteerOutput === "function";
}

function fromSteerOutput(out: SteerOutput): CellOutput {
  if (out && typeof out === "object" && Array.isArray((out as CellOutput).items)) {
    const output = out as CellOutput;
    return { items: output.items.map((i) => toItem(i.mime, i.data)), ...(output.metadata ? { metadata: output.metadata } : {}) };
  }
  const item = out as OutputItem;
  if (!item || typeof item.mime !== "string") {
    throw new TypeError("toSteerOutput() must return { mime, data } or { items: [{ mime, data }, ...] }.");
  }
  return { items: [toItem(item.mime, item.data)] };
}

function toItem(mime: string, data: unknown): OutputItem {
  switch (mimeEncoding(mime)) {
    case "json":
      return { mime, data: toJsonData(data, mime) };
    case "text":
      return { mime, data: data instanceof Uint8Array ? Buffer.from(data).toString("utf8") : typeof data === "string" ? data : inspect(data, INSPECT) };
    case "base64":
      return { mime, data: encodeBinary(data, mime) };
  }
}

function encodeBinary(data: unknown, mime: string): string {
  if (typeof data === "string") return data; // already base64
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("base64");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64");
  throw new TypeError(`${mime} output needs bytes (Uint8Array, Buffer, ArrayBuffer) or a base64 string, got ${describe(data)}.`);
}

function toJsonData(value: unknown, mime: string): unknown {
  const serialized = tryStringify(value);
  if (serialized === undefined) {
    throw new TypeError(`${mime} output needs a JSON-serializable value, got ${describe(value)} (cycles, BigInt and functions are not JSON).`);
  }
  return JSON.parse(serialized);
}

function tryStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** Arrays and objects made of literals: JSON shows them faithfully. Class instances, Maps, typed arrays: not. */
function isPlainData(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length > PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function text(s: string): CellOutput {
  return { items: [textItem(s)] };
}

function textItem(s: string): OutputItem {
  return { mime: "text/plain", data: s };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}
