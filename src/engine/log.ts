/** llama.cpp's log, captured by the addon (llama_log_set) instead of going to stderr. */
import { nativeAddon } from "./native";

const MAX_LINES = 2000;
const lines: string[] = [];
/** lines drained so far, including those dropped from the front */
let seen = 0;

function drain() {
  const fresh = nativeAddon().takeLogs();
  lines.push(...fresh);
  seen += fresh.length;
  if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
}

/** The last `n` lines llama.cpp logged (all kept lines when n is omitted). */
export function llamaLog(n?: number): string[] {
  drain();
  return n === undefined ? [...lines] : lines.slice(-n);
}

/** A position in the log; pass it to logProblemsSince. */
export function logMark(): number {
  drain();
  return seen;
}

/** Errors and warnings logged since `mark`, for error messages. */
export function logProblemsSince(mark: number): string {
  drain();
  return lines
    .slice(Math.max(0, lines.length - (seen - mark)))
    .filter((l) => l.startsWith("error") || l.startsWith("warn"))
    .slice(-10)
    .join("\n");
}
