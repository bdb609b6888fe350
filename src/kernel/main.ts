/**
 * The kernel process (dist/kernel.js): one per notebook, started by the host with the socket path in
 * STEER_KERNEL_SOCKET. The main thread runs cells; the I/O worker (dist/kernel-io.js) owns the socket.
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { KERNEL_SOCKET_ENV, PROTOCOL_VERSION, type HostToKernel, type KernelToHost } from "../protocol";
import { warmUpCompiler } from "./compiler";
import { guardTimers } from "./cell-timers";
import { captureConsole } from "./console-capture";
import { Executor } from "./executor";
import { interruptFlag, InterruptedError } from "./interrupt";
import type { IoToMain, IoWorkerData } from "./io-messages";
import { CellModules } from "./modules";
import { connectOutputs, sendToHost, writeStream } from "./output-channel";
import { dispatchRendererMessage } from "./renderer-messages";
import { installStackTraces } from "./stack-traces";
import { cellApiModule, resolvePathsIn, steer } from "./steer-api";
import { registerViewRequests } from "./view-requests";

const socketPath = process.env[KERNEL_SOCKET_ENV];
if (!socketPath) {
  process.stderr.write(`steer kernel: ${KERNEL_SOCKET_ENV} is not set. The kernel is started by the Steer Notebooks extension or the steer-nb CLI.\n`);
  process.exit(2);
}

installStackTraces(__filename);
const worker = new Worker(join(__dirname, "kernel-io.js"), {
  workerData: { socketPath, flag: interruptFlag.buffer as SharedArrayBuffer } satisfies IoWorkerData,
});
const send = (message: KernelToHost) => worker.postMessage(message);
connectOutputs(send);
captureConsole();
guardTimers();
const modules = new CellModules(cellApiModule);
resolvePathsIn(() => modules.folder);
const executor = new Executor(modules, steer);
registerViewRequests();

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

// Errors from callbacks a cell left behind land in that cell's output; the kernel keeps running.
process.on("uncaughtException", (error) => {
  if (!(error instanceof InterruptedError)) writeStream("stderr", `Uncaught ${describe(error)}\n`);
});
process.on("unhandledRejection", (reason) => {
  if (!(reason instanceof InterruptedError)) writeStream("stderr", `Unhandled promise rejection: ${describe(reason)}\n`);
});

function handle(message: HostToKernel): void {
  switch (message.type) {
    case "execute":
      void executor.execute(message).then(send);
      return;
    case "interrupt":
      executor.interrupt();
      return;
    case "variables":
      send({ type: "variables", requestId: message.requestId, variables: executor.variables() });
      return;
    case "variable-view":
      send({ type: "variable-view", requestId: message.requestId, outcome: executor.variableView(message.name, message.slice) });
      return;
    case "renderer-message":
      dispatchRendererMessage(message);
      return;
    case "shutdown":
      process.exit(0);
  }
}

worker.on("message", (m: IoToMain) => {
  if (m.kind === "disconnected") process.exit(0);
  else handle(m.message);
});
worker.on("error", (e) => {
  process.stderr.write(`steer kernel: I/O thread failed: ${describe(e)}\n`);
  process.exit(70);
});
worker.on("exit", () => process.exit(0));

sendToHost({ type: "ready", protocolVersion: PROTOCOL_VERSION, pid: process.pid, nodeVersion: process.version });
warmUpCompiler().catch((e: unknown) => sendToHost({ type: "log", level: "error", message: `The cell compiler (esbuild) failed to start: ${describe(e)}` }));
