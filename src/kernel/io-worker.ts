/**
 * The kernel's I/O thread: owns the socket to the host and relays messages both ways. It stays
 * responsive while the main thread is busy in cell code, so an interrupt sets the shared flag at
 * once (the cell's interrupt checks see it) and console output written during a synchronous loop
 * still reaches the host.
 */
import { connect } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { encodeMessage, MessageDecoder, type HostToKernel, type KernelToHost } from "../protocol";
import type { IoToMain, IoWorkerData } from "./io-messages";
import { OutputBatcher } from "./output-batcher";

// If the main thread cannot exit by itself (stuck outside instrumented code), end the process.
const FORCED_EXIT_MS = 2000;

const { socketPath, flag: flagBuffer } = workerData as IoWorkerData;
const flag = new Int32Array(flagBuffer);
const port = parentPort!;
const toMain = (m: IoToMain) => port.postMessage(m);

function forceExitSoon(): void {
  setTimeout(() => process.kill(process.pid, "SIGKILL"), FORCED_EXIT_MS).unref();
}

const socket = connect(socketPath);
socket.setEncoding("utf8");

const decoder = new MessageDecoder(
  (raw) => {
    const message = raw as HostToKernel;
    if (message.type === "interrupt" || message.type === "shutdown") Atomics.store(flag, 0, 1);
    if (message.type === "shutdown") forceExitSoon();
    toMain({ kind: "message", message });
  },
  (line, error) => {
    socket.write(encodeMessage({ type: "log", level: "error", message: `Kernel received a line that is not JSON (${error.message}): ${line.slice(0, 200)}` }));
  },
);

socket.on("data", (chunk: string) => decoder.push(chunk));
let disconnected = false;
const onGone = (reason: string) => {
  if (disconnected) return;
  disconnected = true;
  Atomics.store(flag, 0, 1);
  forceExitSoon();
  toMain({ kind: "disconnected", reason });
};
socket.on("error", (e) => onGone(e.message));
socket.on("close", () => onGone("the host closed the connection"));

const batcher = new OutputBatcher((message) => {
  if (!disconnected) socket.write(encodeMessage(message));
});
port.on("message", (message: KernelToHost) => batcher.push(message));
