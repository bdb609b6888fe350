/**
 * Where cell outputs go: to the host, tagged with the execution they belong to. The owner is the
 * execution whose async context the code runs in (a timer set by cell 2 that logs while cell 3 runs
 * still reports as cell 2's), falling back to the latest execution.
 * Console text is batched briefly (at most ~50 ms, also during a busy synchronous loop) so a loop
 * that logs a million lines does not send a million messages.
 */
import type { CellOutput, KernelToHost } from "../protocol";
import { executionContext } from "./interrupt";

export type StreamName = "stdout" | "stderr";

export const STREAM_MIME: Record<StreamName, string> = {
  stdout: "application/vnd.code.notebook.stdout",
  stderr: "application/vnd.code.notebook.stderr",
};

const FLUSH_INTERVAL_MS = 50;
const FLUSH_SIZE = 64 * 1024;

let send: (message: KernelToHost) => void = () => {};
let latestExecutionId: string | undefined;
let pending: { executionId: string; stream: StreamName; text: string } | undefined;
let lastFlush = 0;
let flushScheduled = false;

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
  if (pending && (pending.executionId !== executionId || pending.stream !== stream)) flushStreams();
  pending ??= { executionId, stream, text: "" };
  pending.text += text;
  if (pending.text.length >= FLUSH_SIZE || performance.now() - lastFlush >= FLUSH_INTERVAL_MS) {
    flushStreams();
  } else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushStreams);
  }
}

export function flushStreams(): void {
  flushScheduled = false;
  lastFlush = performance.now();
  if (!pending) return;
  const { executionId, stream, text } = pending;
  pending = undefined;
  send({ type: "output", executionId, output: { items: [{ mime: STREAM_MIME[stream], data: text }], metadata: { stream } } });
}

/** Sends a rich output now, after any console text written before it. */
export function emitOutput(output: CellOutput): void {
  const executionId = owner();
  flushStreams();
  if (executionId) send({ type: "output", executionId, output });
}
