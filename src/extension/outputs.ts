/**
 * Converts cell outputs between the protocol's form (what kernels send and files store) and VS Code's
 * (bytes per mime). Item-level and output-level unknown fields travel in the output's metadata under a
 * private key, because VS Code output items carry nothing but mime and bytes.
 */
import * as vscode from "vscode";
import { ITEM_KEYS, mimeEncoding, OUTPUT_KEYS, STREAM_MIMES, type CellOutput, type OutputItem } from "../protocol";

/** Private metadata key holding what VS Code has no place for; never shown, stripped on save. */
export const ROUND_TRIP_KEY = "steer.roundTrip";

interface OutputRoundTrip {
  /** Unknown keys of the output object. */
  extra?: Record<string, unknown>;
  /** Unknown keys of each item, by index. */
  items?: (Record<string, unknown> | null)[];
  /** Whether the output had a `metadata` object of its own (absent stays absent). */
  hasMetadata: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function itemToVscode(item: OutputItem): vscode.NotebookCellOutputItem {
  switch (mimeEncoding(item.mime)) {
    case "text":
      return new vscode.NotebookCellOutputItem(encoder.encode(String(item.data)), item.mime);
    case "json": {
      // VS Code shows plain application/json as its text, so indent that (not large renderer payloads).
      const indent = item.mime === "application/json" ? 2 : undefined;
      return new vscode.NotebookCellOutputItem(encoder.encode(JSON.stringify(item.data, null, indent)), item.mime);
    }
    case "base64":
      return new vscode.NotebookCellOutputItem(Buffer.from(String(item.data), "base64"), item.mime);
  }
}

export function itemFromVscode(item: vscode.NotebookCellOutputItem): OutputItem {
  switch (mimeEncoding(item.mime)) {
    case "text":
      return { mime: item.mime, data: decoder.decode(item.data) };
    case "json":
      return { mime: item.mime, data: JSON.parse(decoder.decode(item.data)) };
    case "base64":
      return { mime: item.mime, data: Buffer.from(item.data).toString("base64") };
  }
}

export function outputToVscode(output: CellOutput): vscode.NotebookCellOutput {
  const roundTrip: OutputRoundTrip = { hasMetadata: output.metadata !== undefined };
  const extra = unknownKeys(output as unknown as Record<string, unknown>, OUTPUT_KEYS);
  if (extra) roundTrip.extra = extra;
  const itemExtras = output.items.map((it) => unknownKeys(it as unknown as Record<string, unknown>, ITEM_KEYS) ?? null);
  if (itemExtras.some((x) => x !== null)) roundTrip.items = itemExtras;
  return new vscode.NotebookCellOutput(output.items.map(itemToVscode), { ...output.metadata, [ROUND_TRIP_KEY]: roundTrip });
}

export function outputFromVscode(output: vscode.NotebookCellOutput): CellOutput {
  const { [ROUND_TRIP_KEY]: stored, ...metadata } = output.metadata ?? {};
  const roundTrip = stored as OutputRoundTrip | undefined;
  const items = mergeStream(output.items.map((it, i) => ({ ...itemFromVscode(it), ...roundTrip?.items?.[i] })));
  const result: CellOutput = { items };
  // Outputs made by other extensions have no round-trip record: keep their metadata only when non-empty.
  if (roundTrip ? roundTrip.hasMetadata : Object.keys(metadata).length > 0) result.metadata = metadata;
  return Object.assign(result, roundTrip?.extra);
}

/**
 * Console lines stream in as items appended to one output; VS Code shows them as one text, and the
 * file stores them as one item (as the CLI writes them), so diffs do not depend on how output was chunked.
 */
function mergeStream(items: OutputItem[]): OutputItem[] {
  const mime = items[0]?.mime;
  const plain = items.every((it) => it.mime === mime && Object.keys(it).length === 2);
  if (items.length < 2 || !plain || !STREAM_MIMES.includes(mime)) return items;
  return [{ mime, data: items.map((it) => String(it.data)).join("") }];
}

/** The keys of `o` outside `known`, or undefined when there are none. */
export function unknownKeys(o: Record<string, unknown>, known: readonly string[]): Record<string, unknown> | undefined {
  const entries = Object.entries(o).filter(([k, v]) => !known.includes(k) && v !== undefined);
  return entries.length ? Object.fromEntries(entries) : undefined;
}
