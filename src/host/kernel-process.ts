/**
 * One kernel process and its socket. The host listens on a fresh local socket (a unix socket in a
 * private temp folder, or a named pipe on Windows), spawns the kernel with the path in
 * STEER_KERNEL_SOCKET, and waits for its `ready` message. Raw stdout/stderr of the process (native
 * libraries write there) are forwarded line by line; the last lines of stderr are kept for the
 * message shown when the process dies.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  encodeMessage,
  KERNEL_SOCKET_ENV,
  MessageDecoder,
  PROTOCOL_VERSION,
  type HostToKernel,
  type KernelReady,
  type KernelToHost,
} from "../protocol";

export interface KernelProcessOptions {
  kernelPath: string;
  cwd: string;
  /** Inside VS Code this is Electron's binary, run as Node through ELECTRON_RUN_AS_NODE. */
  execPath: string;
  env: Record<string, string | undefined>;
  startTimeoutMs: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (no such executable, ...). */
  spawnError?: string;
}

export interface KernelProcessHandlers {
  message(message: KernelToHost): void;
  output(stream: "stdout" | "stderr", line: string): void;
  exit(info: ExitInfo): void;
}

const STDERR_TAIL_LINES = 20;

export class KernelProcess {
  private readonly stderrTail: string[] = [];
  /** Set when the host stops the process on purpose (its exit is not news). */
  stopping = false;
  private exitInfo: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;

  private constructor(
    private readonly child: ChildProcess,
    private socket: Socket | undefined,
    readonly pid: number,
  ) {
    this.exited = new Promise((resolve) => {
      const done = (info: ExitInfo) => {
        this.exitInfo ??= info;
        resolve(this.exitInfo);
      };
      child.once("exit", (code, signal) => done({ code, signal }));
      child.once("error", (e) => {
        if (child.pid === undefined) done({ code: null, signal: null, spawnError: e.message });
      });
    });
  }

  /** Starts a kernel; resolves once it said `ready`, or with the reason it did not. */
  static async start(
    options: KernelProcessOptions,
    handlers: KernelProcessHandlers,
  ): Promise<{ ok: true; kernel: KernelProcess; ready: KernelReady } | { ok: false; message: string }> {
    const { path: socketPath, cleanup } = makeSocketPath();
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => resolve());
      });
    } catch (e) {
      cleanup();
      return { ok: false, message: `Could not open the kernel socket ${socketPath}: ${(e as Error).message}` };
    }

    let child: ChildProcess;
    try {
      child = spawn(options.execPath, [options.kernelPath], {
        cwd: options.cwd,
        env: { ...options.env, ELECTRON_RUN_AS_NODE: "1", [KERNEL_SOCKET_ENV]: socketPath },
        stdio: ["ignore", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (e) {
      server.close();
      cleanup();
      return { ok: false, message: `Could not start ${options.execPath}: ${(e as Error).message}` };
    }
    const kernel = new KernelProcess(child, undefined, child.pid ?? -1);
    kernel.forwardOutput(handlers);

    const outcome = await kernel.waitReady(server, options.startTimeoutMs, handlers);
    server.close();
    cleanup();
    if (outcome.ok) return { ok: true, kernel, ready: outcome.ready };
    kernel.kill();
    return { ok: false, message: outcome.message + kernel.stderrSummary() };
  }

  private waitReady(
    server: Server,
    timeoutMs: number,
    handlers: KernelProcessHandlers,
  ): Promise<{ ok: true; ready: KernelReady } | { ok: false; message: string }> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: { ok: true; ready: KernelReady } | { ok: false; message: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(
        () => settle({ ok: false, message: `The kernel did not start within ${timeoutMs / 1000} s.` }),
        timeoutMs,
      );
      void this.exited.then((info) => settle({ ok: false, message: `The kernel process exited while starting (${describeExit(info)}).` }));
      server.once("connection", (socket) => {
        this.socket = socket;
        socket.setEncoding("utf8");
        const decoder = new MessageDecoder(
          (raw) => {
            const message = raw as KernelToHost;
            if (!settled && message.type === "ready") {
              if (message.protocolVersion !== PROTOCOL_VERSION) {
                settle({ ok: false, message: `The kernel speaks protocol ${message.protocolVersion}, this host ${PROTOCOL_VERSION}: rebuild (npm run build).` });
              } else settle({ ok: true, ready: message });
              return;
            }
            handlers.message(message);
          },
          (line, error) => handlers.output("stderr", `[bad message from kernel: ${error.message}] ${line.slice(0, 200)}`),
        );
        socket.on("data", (chunk: string) => decoder.push(chunk));
        socket.on("error", () => undefined); // the process exit reports the failure
      });
    });
  }

  private forwardOutput(handlers: KernelProcessHandlers): void {
    for (const stream of ["stdout", "stderr"] as const) {
      let pending = "";
      this.child[stream]?.setEncoding("utf8");
      this.child[stream]?.on("data", (chunk: string) => {
        const lines = (pending + chunk).split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) this.onLine(stream, line, handlers);
      });
      this.child[stream]?.on("end", () => {
        if (pending) this.onLine(stream, pending, handlers);
        pending = "";
      });
    }
    void this.exited.then((info) => handlers.exit(info));
  }

  private onLine(stream: "stdout" | "stderr", line: string, handlers: KernelProcessHandlers): void {
    if (stream === "stderr") {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    }
    handlers.output(stream, line);
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  send(message: HostToKernel): boolean {
    if (!this.alive || !this.socket || this.socket.destroyed) return false;
    this.socket.write(encodeMessage(message));
    return true;
  }

  kill(): void {
    if (this.alive) this.child.kill("SIGKILL");
  }

  /** Asks the kernel to exit; kills it after `graceMs`. Resolves when the process is gone. */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (!this.alive) return this.exitInfo!;
    this.send({ type: "shutdown" });
    const timer = setTimeout(() => this.kill(), graceMs);
    const info = await this.exited;
    clearTimeout(timer);
    this.socket?.destroy();
    return info;
  }

  /** The last lines the process wrote to stderr, for messages about its death. */
  stderrSummary(): string {
    const lines = this.stderrTail.filter((l) => l.trim() !== "");
    return lines.length ? `\nLast kernel output:\n${lines.join("\n")}` : "";
  }
}

export function describeExit(info: ExitInfo): string {
  if (info.spawnError) return info.spawnError;
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}

function makeSocketPath(): { path: string; cleanup: () => void } {
  const id = `${process.pid}-${randomBytes(6).toString("hex")}`;
  if (process.platform === "win32") return { path: `\\\\.\\pipe\\steer-kernel-${id}`, cleanup: () => undefined };
  // A private folder (mode 0700) keeps other users off the socket.
  const dir = mkdtempSync(join(tmpdir(), "steer-kernel-"));
  return { path: join(dir, "k.sock"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
