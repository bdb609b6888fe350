/**
 * Every message between the host (VS Code extension or the headless CLI) and a kernel process.
 * Transport: newline-delimited JSON over a local socket whose path the host passes to the kernel in
 * the environment variable STEER_KERNEL_SOCKET. Each message is a plain object tagged by `type`.
 */
import type { CellOutput } from "./outputs";
import type { TensorSliceView } from "./views";

export const PROTOCOL_VERSION = 1;

/** host -> kernel */
export type HostToKernel =
  | ExecuteRequest
  | InterruptRequest
  | ShutdownRequest
  | RendererToKernel
  | VariablesRequest
  | VariableViewRequest;

/** kernel -> host */
export type KernelToHost =
  | KernelReady
  | CellOutputMessage
  | ExecuteResult
  | KernelToRenderer
  | VariablesResult
  | VariableViewResult
  | KernelLog
  | ModelLoaded;

export interface ExecuteRequest {
  type: "execute";
  /** Unique per request; echoed by every output and by the result. */
  executionId: string;
  /** Stable id of the cell, used in stack traces and file names (`cell-3.ts`). */
  cellId: string;
  /** 1-based position of the cell in the notebook, for messages. */
  cellIndex: number;
  /** TypeScript source of the cell. */
  code: string;
  /** Absolute path of the notebook, so relative paths and imports resolve beside it. */
  notebookPath?: string;
  /** Absolute path of the model the notebook names (metadata `steer.model`): what `steer.load()` with no path loads. */
  model?: string;
}

export interface InterruptRequest {
  type: "interrupt";
}

export interface ShutdownRequest {
  type: "shutdown";
}

/** A message a renderer posted (for example a click on a heatmap cell), relayed by the host. */
export interface RendererToKernel {
  type: "renderer-message";
  rendererId: string;
  /** The renderer's payload; kernels route it by its own `type` field. */
  message: unknown;
}

export interface VariablesRequest {
  type: "variables";
  requestId: string;
}

/**
 * A tensor variable as a heatmap (the variables panel). `name` is a variable or a path into one:
 * `.field`, `["key"]` (a cache's or Map's entry, an object's field), `[0]` (an array's item).
 * `slice`: indices along the leading axes of a 3-D+ tensor (default all 0).
 */
export interface VariableViewRequest {
  type: "variable-view";
  requestId: string;
  name: string;
  slice?: number[];
}

export interface KernelReady {
  type: "ready";
  protocolVersion: number;
  pid: number;
  nodeVersion: string;
}

/** One output, sent as soon as it exists (console lines stream while the cell runs). */
export interface CellOutputMessage {
  type: "output";
  executionId: string;
  output: CellOutput;
  /**
   * True: this output takes the place of the execution's earlier output with the same
   * `metadata.displayId` (`display(value, { id })` shown again, a progress bar advancing).
   */
  replace?: boolean;
}

export type ExecuteStatus = "ok" | "error" | "interrupted";

export interface CellError {
  name: string;
  message: string;
  /** Stack with the cell's own line numbers (`at cell-3.ts:4:7`). */
  stack?: string;
}

export interface ExecuteResult {
  type: "result";
  executionId: string;
  status: ExecuteStatus;
  durationMs: number;
  /** Execution order counter inside this kernel (1, 2, ...). */
  order: number;
  error?: CellError;
}

export interface KernelToRenderer {
  type: "renderer-message";
  rendererId: string;
  message: unknown;
}

export interface VariableInfo {
  name: string;
  type: string;
  summary: string;
  /** a Tensor's shape and axis names */
  shape?: number[];
  dims?: string[];
  /**
   * What a cache, a Map of tensors or an object holding tensors contains, each named by its path
   * (`cache["blocks.0.hook_resid_post"]`), which a variable-view request accepts.
   */
  entries?: VariableInfo[];
}

export interface VariablesResult {
  type: "variables";
  requestId: string;
  variables: VariableInfo[];
}

export interface VariableViewResult {
  type: "variable-view";
  requestId: string;
  outcome: { ok: true; view: TensorSliceView } | { ok: false; message: string };
}

export interface KernelLog {
  type: "log";
  level: "info" | "warn" | "error";
  message: string;
}

/** What a kernel has loaded (the status bar shows it). */
export interface LoadedModelInfo {
  /** absolute path */
  path: string;
  /** the file name without `.gguf` */
  name: string;
  architecture: string;
  /** the file type, e.g. "F16", "Q8_0" */
  quantization: string;
  nLayers: number;
  nHeads: number;
}

/** Sent when `steer.load` resolves. */
export interface ModelLoaded extends LoadedModelInfo {
  type: "model-loaded";
}

/** Name of the environment variable carrying the host's socket path to the kernel. */
export const KERNEL_SOCKET_ENV = "STEER_KERNEL_SOCKET";

/** One message as one line of the newline-delimited JSON transport. */
export function encodeMessage(message: HostToKernel | KernelToHost): string {
  return JSON.stringify(message) + "\n";
}

/**
 * Splits the byte stream into messages. Chunks may end mid-line; a line that is not JSON is
 * reported through `onBadLine` rather than thrown, so one bad line cannot kill the connection.
 */
export class MessageDecoder {
  private pending = "";

  constructor(
    private readonly onMessage: (message: unknown) => void,
    private readonly onBadLine: (line: string, error: Error) => void,
  ) {}

  push(chunk: string): void {
    const text = this.pending + chunk;
    let start = 0;
    let newline: number;
    while ((newline = text.indexOf("\n", start)) >= 0) {
      const line = text.slice(start, newline);
      start = newline + 1;
      if (line.trim() === "") continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch (e) {
        this.onBadLine(line, e as Error);
        continue;
      }
      this.onMessage(message);
    }
    this.pending = text.slice(start);
  }
}
