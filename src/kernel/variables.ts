/** The variables view: the cells' top-level names, each with its type and a one-line summary. */
import { inspect } from "node:util";
import type { VariableInfo } from "../protocol";

const SUMMARY_LENGTH = 120;

export function describeVariables(names: Iterable<string>): VariableInfo[] {
  const globals = globalThis as Record<string, unknown>;
  const out: VariableInfo[] = [];
  for (const name of [...names].sort()) {
    if (!(name in globals)) continue;
    const value = globals[name];
    out.push({ name, type: typeName(value), summary: summarize(value) });
  }
  return out;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === "function") return /^class\b/.test(Function.prototype.toString.call(value)) ? "class" : "function";
  if (typeof value !== "object") return typeof value;
  if (ArrayBuffer.isView(value) && "length" in value) return `${value.constructor.name}(${(value as unknown as { length: number }).length})`;
  return Object.getPrototypeOf(value)?.constructor?.name ?? "Object";
}

function summarize(value: unknown): string {
  let text: string;
  try {
    text = inspect(value, { depth: 0, breakLength: Infinity, maxArrayLength: 8, maxStringLength: SUMMARY_LENGTH, compact: true });
  } catch (e) {
    text = `<summary failed: ${(e as Error).message}>`;
  }
  text = text.replace(/\s+/g, " ");
  return text.length > SUMMARY_LENGTH ? text.slice(0, SUMMARY_LENGTH - 1) + "…" : text;
}
