/**
 * Where cell outputs go: to the host, tagged with the execution they belong to. The owner is the
 * execution whose async context the code runs in (a timer set by cell 2 that logs while cell 3 runs
 * still reports as cell 2's), falling back to the latest execution.
 * Console text is sent to the I/O thread at once, which batches it (output-batcher.ts): batching
 * here would hold text back whenever the main thread is busy in a synchronous loop.
 */
import { DISPLAY_ID_KEY, STDERR_MIME, STDOUT_MIME, type CellOutput, type KernelToHost } from "../protocol";
import { executionContext } from "./interrupt";

export type StreamName = "stdout" | "stderr";

export const STREAM_MIME: Record<StreamName, string> = { stdout: STDOUT_MIME, stderr: STDERR_MIME };

let send: (message: KernelToHost) => void = () => {};
let latestExecutionId: string | undefined;

export function connectOutputs(sender: (message: KernelToHost) => void): void {
  send = sender;
}

export function sendToHost(message: KernelToHost): void {
  send(message);
}

export function setLatestExecution(executionId: string): void {
  latestExecutionId = executionId;
}

function owner(): string | undefined {
  return executionContext.getStore()?.executionId ?? latestExecutionId;
}

export function writeStream(stream: StreamName, text: string): void {
  if (text === "") return;
  const executionId = owner();
  if (!executionId) {
    send({ type: "log", level: stream === "stderr" ? "warn" : "info", message: text });
    return;
  }
  send({ type: "output", executionId, output: { items: [{ mime: STREAM_MIME[stream], data: text }], metadata: { stream } } });
}

/** Display ids each execution has shown: ids are per cell run, so a rerun starts afresh. */
const shownIds = new Map<string, Set<string>>();
const KEPT_EXECUTIONS = 64;

/**
 * Sends a rich output now. With a display id, the first output of that id in this execution is
 * appended and later ones replace it in place.
 */
export function emitOutput(output: CellOutput, displayId?: string): void {
  const executionId = owner();
  if (!executionId) return;
  if (displayId === undefined) {
    send({ type: "output", executionId, output });
    return;
  }
  let shown = shownIds.get(executionId);
  if (!shown) {
    shown = new Set();
    shownIds.set(executionId, shown);
    // Maps keep insertion order: the first key is the oldest execution.
    if (shownIds.size > KEPT_EXECUTIONS) shownIds.delete(shownIds.keys().next().value!);
  }
  const replace = shown.has(displayId);
  shown.add(displayId);
  send({ type: "output", executionId, output: { ...output, metadata: { ...output.metadata, [DISPLAY_ID_KEY]: displayId } }, ...(replace ? { replace } : {}) });
}
