/**
 * What `steer-nb run` prints of a cell's outputs: console and plain text as they are, markdown as its
 * text, and for a rich view the one-line summary its producer put in the output's metadata (for
 * example `[head heatmap 4x4, top a3.h2 1]`), so the terminal says what a notebook found.
 */
import { ERROR_MIME, STREAM_MIMES, type CellOutput } from "../protocol";

const MAX_LINES = 24;

function clip(text: string): string {
  const lines = text.replace(/\n+$/, "").split("\n");
  if (lines.length <= MAX_LINES) return lines.join("\n");
  return [...lines.slice(0, MAX_LINES), `... (${lines.length - MAX_LINES} more lines in the notebook)`].join("\n");
}

/** The text of one output for the terminal, or "" when it has nothing to say there. */
export function outputText(output: CellOutput): string {
  const mimes = output.items.map((i) => i.mime);
  const summary = output.metadata?.summary;
  const rich = mimes.find((m) => !m.startsWith("text/") && !STREAM_MIMES.includes(m) && m !== ERROR_MIME && m !== "application/json");
  if (rich) return `[${typeof summary === "string" ? summary : rich}]`;
  for (const mime of [...STREAM_MIMES, "text/plain", "text/markdown", "application/json"]) {
    const item = output.items.find((i) => i.mime === mime);
    if (item) return clip(typeof item.data === "string" ? item.data : JSON.stringify(item.data, null, 2));
  }
  return "";
}

/** Every output of a cell, indented under its status line. */
export function outputsText(outputs: readonly CellOutput[]): string {
  const parts = outputs.filter((o) => !o.items.some((i) => i.mime === ERROR_MIME)).map(outputText).filter((t) => t !== "");
  return parts.length ? parts.map((t) => t.replace(/^/gm, "  ")).join("\n") + "\n" : "";
}
