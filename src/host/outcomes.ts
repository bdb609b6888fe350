/** What the host-side kernel client reports: every request ends in one of these, never hangs. */
import type { CellError, CellOutput, TensorSliceView, VariableInfo } from "../protocol";

export type KernelState = "not-started" | "starting" | "idle" | "busy" | "dead";

export type ExecuteOutcome =
  | { status: "ok"; order: number; durationMs: number }
  /** The cell threw, or was interrupted (its kernel and state are kept). */
  | { status: "error" | "interrupted"; order: number; durationMs: number; error: CellError }
  /**
   * timeout: ran past its time limit and was interrupted; kernel-died: the process exited (the
   * next run starts a new kernel); cancelled: never ran or was stopped by interrupt/restart/
   * shutdown; start-failed: no kernel could be started.
   */
  | { status: "timeout" | "kernel-died" | "cancelled" | "start-failed"; order?: number; durationMs: number; error: CellError };

export type StartOutcome = { status: "ready"; pid: number } | { status: "failed"; message: string };

export type InterruptOutcome =
  /** Nothing was running (queued cells, if any, were cancelled). */
  | { status: "not-running" }
  | { status: "interrupted" }
  /** The cell did not stop within the grace period; the kernel was killed (state lost). */
  | { status: "killed" };

/** How a quick request (variables, variable-view) ends when the kernel gives no answer. */
export type NoKernelAnswer = { status: "no-kernel" | "timeout" | "kernel-died"; message: string };

export type VariablesOutcome = { status: "ok"; variables: VariableInfo[] } | NoKernelAnswer;

export type VariableViewOutcome =
  | { status: "ok"; view: TensorSliceView }
  /** the kernel answered that the name is unknown or not a tensor (the message says what is viewable) */
  | { status: "error"; message: string }
  | NoKernelAnswer;

export interface KernelLogEntry {
  level: "info" | "warn" | "error";
  /** kernel: a log message of the kernel; stdout/stderr: raw process output (native libraries). */
  source: "kernel" | "stdout" | "stderr";
  message: string;
}

/** Output of an execution whose cell already finished (a timer it left behind). */
export interface LateOutput {
  executionId: string;
  output: CellOutput;
}
