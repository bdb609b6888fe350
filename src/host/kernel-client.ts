/**
 * The host side of a notebook's kernel, used by the VS Code extension and by the CLI. Executions
 * are queued here and sent one at a time, so an interrupt always targets the cell that is running.
 * Every call ends in a typed outcome: a dead kernel ends the running cell with an error saying so
 * (the next execute starts a new kernel), an interrupt that does not take effect within the grace
 * period kills the kernel, shutdown kills after a grace period.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { CellOutput, ExecuteRequest, HostToKernel, KernelToHost, LoadedModelInfo, VariableInfo } from "../protocol";
import { Emitter } from "./emitter";
import { describeExit, KernelProcess, type ExitInfo } from "./kernel-process";
import type {
  ExecuteOutcome,
  InterruptOutcome,
  KernelLogEntry,
  KernelState,
  LateOutput,
  NoKernelAnswer,
  StartOutcome,
  VariablesOutcome,
  VariableViewOutcome,
} from "./outcomes";

export interface KernelStartOptions {
  /** Working directory of the kernel process (the notebook's folder). */
  cwd?: string;
  /** Node (or Electron, run as Node) binary; defaults to this process's. */
  execPath?: string;
  /** Environment of the kernel; defaults to this process's. */
  env?: Record<string, string | undefined>;
  /** The kernel bundle; defaults to kernel.js beside this bundle (dist/). */
  kernelPath?: string;
  startTimeoutMs?: number;
  /** How long an interrupted cell may take to stop before the kernel is killed. */
  interruptGraceMs?: number;
  /** Limit for requests that should answer quickly (variables). */
  requestTimeoutMs?: number;
  /** How long shutdown waits for the kernel to exit before killing it. */
  shutdownGraceMs?: number;
}

export interface ExecuteInput {
  cellId: string;
  cellIndex: number;
  code: string;
  notebookPath?: string;
  /** Absolute path of the notebook's model (metadata `steer.model`): what `steer.load()` loads. */
  model?: string;
}

export interface ExecuteOptions {
  /** Interrupt the cell after this long and report "timeout". */
  timeoutMs?: number;
}

/**
 * Receives a cell's outputs in order. `replace`: the output takes the place of the earlier one with
 * the same `metadata.displayId` (see placeOutput in the protocol); otherwise it is appended.
 */
export type OutputCallback = (output: CellOutput, replace: boolean) => void;

interface Job {
  request: ExecuteRequest;
  onOutput: OutputCallback;
  resolve: (outcome: ExecuteOutcome) => void;
  timeoutMs?: number;
  sentAt?: number;
  timer?: NodeJS.Timeout;
  timedOut?: boolean;
  interruptWaiters: ((outcome: InterruptOutcome) => void)[];
  killedAfterInterrupt?: boolean;
  /** Why the kernel was stopped on purpose while this job ran. */
  stopReason?: string;
}

const DEFAULTS = {
  startTimeoutMs: 20_000,
  interruptGraceMs: 3_000,
  requestTimeoutMs: 5_000,
  shutdownGraceMs: 2_000,
};

export class KernelClient {
  private options: Required<Omit<KernelStartOptions, "env">> & { env: Record<string, string | undefined> };
  private kernel: KernelProcess | undefined;
  private starting: Promise<StartOutcome> | undefined;
  private readonly queue: Job[] = [];
  private inFlight: Job | undefined;
  private pumping = false;
  private readonly pendingVariables = new Map<string, (outcome: VariablesOutcome) => void>();
  private readonly pendingViews = new Map<string, (outcome: VariableViewOutcome) => void>();
  private currentState: KernelState = "not-started";
  private disposed = false;

  private readonly stateEmitter = new Emitter<KernelState>();
  private readonly logEmitter = new Emitter<KernelLogEntry>();
  private readonly rendererEmitter = new Emitter<{ rendererId: string; message: unknown }>();
  private readonly lateOutputEmitter = new Emitter<LateOutput>();
  private readonly modelEmitter = new Emitter<LoadedModelInfo>();

  readonly onDidChangeState = this.stateEmitter.event;
  /** Kernel log messages and raw kernel process output. */
  readonly onDidLog = this.logEmitter.event;
  /** A kernel answer for a renderer (toolkit view). */
  readonly onDidReceiveRendererMessage = this.rendererEmitter.event;
  readonly onDidReceiveLateOutput = this.lateOutputEmitter.event;
  /** A cell's `steer.load` resolved: the model the kernel now has. */
  readonly onDidLoadModel = this.modelEmitter.event;

  constructor(options: KernelStartOptions = {}) {
    this.options = {
      cwd: process.cwd(),
      execPath: process.execPath,
      env: { ...process.env },
      kernelPath: join(__dirname, "kernel.js"),
      ...DEFAULTS,
      ...definedOnly(options),
    };
  }

  get state(): KernelState {
    return this.currentState;
  }

  get pid(): number | undefined {
    return this.kernel?.pid;
  }

  /** Starts the kernel if none is running. Options given here are kept for later (re)starts. */
  start(options: KernelStartOptions = {}): Promise<StartOutcome> {
    Object.assign(this.options, definedOnly(options));
    return this.ensureStarted();
  }

  execute(input: ExecuteInput, onOutput: OutputCallback, options: ExecuteOptions = {}): Promise<ExecuteOutcome> {
    if (this.disposed) return Promise.resolve(cancelled("The kernel client was disposed."));
    return new Promise((resolve) => {
      this.queue.push({
        request: { type: "execute", executionId: randomUUID(), ...input },
        onOutput,
        resolve,
        timeoutMs: options.timeoutMs,
        interruptWaiters: [],
      });
      void this.pump();
    });
  }

  /** Interrupts the running cell and cancels queued ones. */
  interrupt(): Promise<InterruptOutcome> {
    this.cancelQueued("Cancelled by an interrupt before it ran.");
    const job = this.inFlight;
    if (!job) return Promise.resolve({ status: "not-running" });
    return this.interruptJob(job);
  }

  /** Stops the kernel (state is lost) and starts a new one. */
  async restart(): Promise<StartOutcome> {
    if (this.disposed) return { status: "failed", message: "The kernel client was disposed." };
    await this.stopKernel("The kernel was restarted while the cell ran.");
    return this.ensureStarted();
  }

  /** Stops the kernel; a later execute starts a new one. Never hangs: kills after a grace period. */
  async shutdown(): Promise<void> {
    await this.stopKernel("The kernel was shut down while the cell ran.");
  }

  variables(): Promise<VariablesOutcome> {
    return this.quickRequest(this.pendingVariables, (requestId) => ({ type: "variables", requestId }));
  }

  /** A tensor variable (or a path into one, e.g. `cache["blocks.0.hook_resid_post"]`) as a heatmap slice. */
  variableView(name: string, slice?: number[]): Promise<VariableViewOutcome> {
    return this.quickRequest(this.pendingViews, (requestId) => ({ type: "variable-view", requestId, name, ...(slice ? { slice } : {}) }));
  }

  /** Sends a request the kernel answers at once by requestId; ends in an outcome within requestTimeoutMs. */
  private quickRequest<O>(pending: Map<string, (outcome: O | NoKernelAnswer) => void>, request: (requestId: string) => HostToKernel): Promise<O | NoKernelAnswer> {
    const kernel = this.kernel;
    if (!kernel?.alive) return Promise.resolve({ status: "no-kernel", message: "No kernel is running." });
    const requestId = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(requestId);
        resolve({ status: "timeout", message: `The kernel did not answer within ${this.options.requestTimeoutMs / 1000} s (a cell may be busy).` });
      }, this.options.requestTimeoutMs);
      pending.set(requestId, (outcome) => {
        clearTimeout(timer);
        pending.delete(requestId);
        resolve(outcome);
      });
      kernel.send(request(requestId));
    });
  }

  /** Relays a renderer's message to the kernel; false when no kernel is running. */
  postRendererMessage(rendererId: string, message: unknown): boolean {
    return this.kernel?.send({ type: "renderer-message", rendererId, message }) ?? false;
  }

  /** Idempotent. Ends every pending request with an outcome and stops the kernel. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.stopKernel("The kernel client was disposed while the cell ran.");
    for (const e of [this.stateEmitter, this.logEmitter, this.rendererEmitter, this.lateOutputEmitter, this.modelEmitter]) e.dispose();
  }

  private setState(state: KernelState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.stateEmitter.fire(state);
  }

  private ensureStarted(): Promise<StartOutcome> {
    if (this.kernel?.alive) return Promise.resolve({ status: "ready", pid: this.kernel.pid });
    if (this.disposed) return Promise.resolve({ status: "failed", message: "The kernel client was disposed." });
    this.starting ??= this.startKernel().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async startKernel(): Promise<StartOutcome> {
    this.setState("starting");
    const { kernelPath, cwd, execPath, env, startTimeoutMs } = this.options;
    // Messages may arrive before start() resolves; they belong to the kernel being started.
    const started: { kernel?: KernelProcess } = {};
    const result = await KernelProcess.start(
      { kernelPath, cwd, execPath, env, startTimeoutMs },
      {
        message: (m) => started.kernel && this.onMessage(started.kernel, m),
        output: (stream, line) => this.logEmitter.fire({ level: stream === "stderr" ? "warn" : "info", source: stream, message: line }),
        exit: (info) => started.kernel && this.onExit(started.kernel, info),
      },
    );
    if (!result.ok) {
      this.setState("dead");
      return { status: "failed", message: result.message };
    }
    const kernel = (started.kernel = result.kernel);
    if (this.disposed) {
      await kernel.stop(this.options.shutdownGraceMs);
      return { status: "failed", message: "The kernel client was disposed." };
    }
    this.kernel = kernel;
    // A queued cell is about to be sent: no "idle" blip in between.
    this.setState(this.inFlight ? "busy" : "idle");
    return { status: "ready", pid: kernel.pid };
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.inFlight && this.queue.length) {
        const job = this.queue.shift()!;
        this.inFlight = job;
        const started = await this.ensureStarted();
        if (this.inFlight !== job) continue; // cancelled while the kernel started
        if (started.status === "failed") {
          this.finish(job, { status: "start-failed", durationMs: 0, error: { name: "KernelStartError", message: started.message } });
          this.cancelQueued("Not run: the kernel could not start.");
          continue;
        }
        job.sentAt = Date.now();
        this.kernel!.send(job.request);
        this.setState("busy");
        if (job.timeoutMs !== undefined) {
          job.timer = setTimeout(() => {
            job.timedOut = true;
            void this.interruptJob(job);
          }, job.timeoutMs);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private interruptJob(job: Job): Promise<InterruptOutcome> {
    return new Promise((resolve) => {
      job.interruptWaiters.push(resolve);
      if (job.sentAt === undefined) {
        this.finish(job, cancelled("Cancelled by an interrupt before it ran."));
        return;
      }
      if (job.interruptWaiters.length > 1) return; // already interrupting
      this.kernel?.send({ type: "interrupt" });
      const kernel = this.kernel;
      setTimeout(() => {
        if (this.inFlight === job && kernel?.alive) {
          job.killedAfterInterrupt = true;
          kernel.kill();
        }
      }, this.options.interruptGraceMs).unref();
    });
  }

  private finish(job: Job, outcome: ExecuteOutcome): void {
    if (this.inFlight === job) this.inFlight = undefined;
    clearTimeout(job.timer);
    if (job.timedOut && (outcome.status === "interrupted" || outcome.status === "kernel-died")) {
      const seconds = (job.timeoutMs ?? 0) / 1000;
      const extra = job.killedAfterInterrupt ? " It did not stop, so the kernel was stopped; the next run starts a new kernel." : "";
      const message = `Cell ${job.request.cellIndex} ran longer than its ${seconds} s limit and was interrupted.${extra}`;
      // Keep the frames: they say where the cell was when time ran out.
      const frames = outcome.error.stack?.split("\n").filter((l) => /^\s+at /.test(l)) ?? [];
      outcome = {
        status: "timeout",
        order: outcome.order,
        durationMs: outcome.durationMs,
        error: { name: "TimeoutError", message, stack: [`TimeoutError: ${message}`, ...frames].join("\n") },
      };
    }
    const interruptOutcome: InterruptOutcome = job.killedAfterInterrupt ? { status: "killed" } : { status: "interrupted" };
    for (const waiter of job.interruptWaiters) waiter(interruptOutcome);
    job.resolve(outcome);
    if (this.kernel?.alive && this.currentState === "busy" && !this.inFlight) this.setState("idle");
    void this.pump();
  }

  private onMessage(kernel: KernelProcess, message: KernelToHost): void {
    if (kernel !== this.kernel) return;
    switch (message.type) {
      case "output": {
        const job = this.inFlight;
        if (job && job.request.executionId === message.executionId) {
          try {
            job.onOutput(message.output, message.replace === true);
          } catch (e) {
            this.logEmitter.fire({ level: "error", source: "kernel", message: `Output handler failed: ${(e as Error).message}` });
          }
        } else this.lateOutputEmitter.fire({ executionId: message.executionId, output: message.output });
        return;
      }
      case "result": {
        const job = this.inFlight;
        if (!job || job.request.executionId !== message.executionId) return;
        const { status, order, durationMs, error } = message;
        this.finish(
          job,
          status === "ok"
            ? { status, order, durationMs }
            : { status, order, durationMs, error: error ?? { name: "Error", message: `The cell ended with status ${status}.` } },
        );
        return;
      }
      case "variables":
        this.pendingVariables.get(message.requestId)?.({ status: "ok", variables: message.variables as VariableInfo[] });
        return;
      case "variable-view":
        this.pendingViews.get(message.requestId)?.(message.outcome.ok ? { status: "ok", view: message.outcome.view } : { status: "error", message: message.outcome.message });
        return;
      case "renderer-message":
        this.rendererEmitter.fire({ rendererId: message.rendererId, message: message.message });
        return;
      case "log":
        this.logEmitter.fire({ level: message.level, source: "kernel", message: message.message });
        return;
      case "model-loaded": {
        const { type: _type, ...model } = message;
        this.modelEmitter.fire(model);
        return;
      }
      case "ready":
        return;
    }
  }

  private onExit(kernel: KernelProcess, info: ExitInfo): void {
    if (kernel !== this.kernel) return;
    this.kernel = undefined;
    this.setState("dead");
    for (const resolve of [...this.pendingVariables.values(), ...this.pendingViews.values()]) {
      resolve({ status: "kernel-died", message: `The kernel process exited (${describeExit(info)}).` });
    }
    const job = this.inFlight;
    if (job) {
      const durationMs = job.sentAt !== undefined ? Date.now() - job.sentAt : 0;
      const cell = job.request.cellIndex;
      let outcome: ExecuteOutcome;
      if (job.stopReason) {
        outcome = cancelled(job.stopReason, durationMs);
      } else if (job.killedAfterInterrupt) {
        outcome = {
          status: "interrupted",
          order: 0,
          durationMs,
          error: {
            name: "InterruptedError",
            message: `Cell ${cell} did not stop within ${this.options.interruptGraceMs / 1000} s of the interrupt, so the kernel was stopped (its variables are lost); the next run starts a new kernel.`,
          },
        };
      } else {
        outcome = {
          status: "kernel-died",
          durationMs,
          error: {
            name: "KernelDiedError",
            message: `The kernel process exited unexpectedly (${describeExit(info)}) while running cell ${cell}; the next run starts a new kernel.${kernel.stderrSummary()}`,
          },
        };
      }
      // Cells queued behind it would run on a fresh kernel without the state they expect.
      this.cancelQueued(`Not run: the kernel stopped while running cell ${cell}.`);
      this.finish(job, outcome);
    } else if (!kernel.stopping) {
      this.logEmitter.fire({ level: "error", source: "kernel", message: `The kernel process exited (${describeExit(info)}); the next run starts a new kernel.${kernel.stderrSummary()}` });
    }
  }

  private cancelQueued(message: string): void {
    for (const job of this.queue.splice(0)) job.resolve(cancelled(message));
  }

  private async stopKernel(reason: string): Promise<void> {
    this.cancelQueued(reason.replace("while the cell ran", "before the cell ran"));
    if (this.starting) await this.starting;
    const kernel = this.kernel;
    if (!kernel) {
      this.setState("dead");
      return;
    }
    if (this.inFlight) this.inFlight.stopReason = reason;
    kernel.stopping = true;
    await kernel.stop(this.options.shutdownGraceMs);
  }
}

function cancelled(message: string, durationMs = 0): ExecuteOutcome {
  return { status: "cancelled", durationMs, error: { name: "CancelledError", message } };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
