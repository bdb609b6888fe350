/**
 * A typed client over VS Code's renderer messaging (the `context` a renderer's activate() gets):
 * posts view -> host messages and pairs each request with its answer by requestId, including the
 * host's "kernel-unavailable" answer (which carries the request it could not deliver).
 */
import type {
  ExportCircuitRequest,
  ExportResult,
  ExportSaved,
  InsertCodeRequest,
  KernelUnavailable,
  RerunAnswer,
  RerunCellRequest,
  RerunRequest,
} from "../src/protocol/views";

/** The parts of VS Code's renderer API (vscode-notebook-renderer) the views use. */
export interface OutputItem {
  readonly id: string;
  readonly mime: string;
  json(): unknown;
}
export interface RendererContext {
  postMessage?(message: unknown): void;
  onDidReceiveMessage?(listener: (message: unknown) => void): { dispose(): void };
}
export interface Renderer {
  renderOutputItem(item: OutputItem, element: HTMLElement): void;
  disposeOutputItem?(id?: string): void;
}

export type ViewToHost = RerunRequest | InsertCodeRequest | RerunCellRequest | ExportCircuitRequest;
export type HostToView = RerunAnswer | KernelUnavailable | ExportResult | ExportSaved;

/** What a request can end in besides its answer. */
export type NoAnswer =
  | KernelUnavailable
  /** no answer within the time limit (e.g. no cell handles the request) */
  | { type: "timeout"; afterMs: number }
  /** this view cannot post (an HTML export, or VS Code without renderer messaging) */
  | { type: "no-messaging" };

let counter = 0;

export function newRequestId(): string {
  counter += 1;
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`;
}

function requestIdOf(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const m = message as { requestId?: unknown; type?: unknown; request?: unknown };
  if (m.type === "kernel-unavailable") return requestIdOf(m.request);
  return typeof m.requestId === "string" ? m.requestId : undefined;
}

export class MessageClient {
  private readonly pending = new Map<string, (m: HostToView) => void>();
  private readonly listeners = new Set<(m: HostToView) => void>();
  private readonly subscription?: { dispose(): void };

  constructor(private readonly context: RendererContext) {
    this.subscription = context.onDidReceiveMessage?.((raw) => {
      if (typeof raw !== "object" || raw === null || typeof (raw as { type?: unknown }).type !== "string") return;
      const message = raw as HostToView;
      const id = requestIdOf(message);
      const waiter = id === undefined ? undefined : this.pending.get(id);
      if (waiter) waiter(message);
      for (const l of this.listeners) l(message);
    });
  }

  /** Whether messages can reach the host at all. */
  get canPost(): boolean {
    return typeof this.context.postMessage === "function";
  }

  /** Fire and forget; false when this view cannot post. */
  post(message: ViewToHost): boolean {
    if (!this.context.postMessage) return false;
    this.context.postMessage(message);
    return true;
  }

  /** Every message from the host (answers to requests included). */
  onMessage(listener: (m: HostToView) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }

  /**
   * Posts `message` and resolves with the first host message carrying its requestId that `accept`
   * takes, or kernel-unavailable for it, or a timeout.
   */
  request<A extends HostToView>(
    message: ViewToHost & { requestId: string },
    accept: (m: HostToView) => m is A,
    timeoutMs = 120_000,
  ): Promise<A | NoAnswer> {
    if (!this.post(message)) return Promise.resolve({ type: "no-messaging" });
    return new Promise((resolve) => {
      const id = message.requestId;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ type: "timeout", afterMs: timeoutMs });
      }, timeoutMs);
      this.pending.set(id, (m) => {
        if (m.type !== "kernel-unavailable" && !accept(m)) return;
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(m as A | KernelUnavailable);
      });
    });
  }

  rerun(request: Omit<RerunRequest, "type" | "requestId">, timeoutMs?: number): Promise<RerunAnswer | NoAnswer> {
    const message: RerunRequest = { type: "steer.rerun", requestId: newRequestId(), ...request };
    return this.request(message, (m): m is RerunAnswer => m.type === "steer.rerun-result", timeoutMs);
  }

  dispose(): void {
    this.subscription?.dispose();
    this.pending.clear();
    this.listeners.clear();
  }
}
