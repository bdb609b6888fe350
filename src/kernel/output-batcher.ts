/**
 * Runs on the I/O thread: merges consecutive console chunks of one execution and stream into one
 * message, sent at most BATCH_MS later (or sooner when large, or when any other message must go
 * out, which keeps the order). A loop logging a million lines then sends a few hundred messages,
 * and text written just before a long synchronous computation still arrives on time, because this
 * thread's timers run while the main thread is busy.
 */
import type { CellOutputMessage, KernelToHost } from "../protocol";

const BATCH_MS = 20;
const BATCH_BYTES = 64 * 1024;

export class OutputBatcher {
  private pending: CellOutputMessage | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly write: (message: KernelToHost) => void) {}

  push(message: KernelToHost): void {
    const stream = message.type === "output" ? streamOf(message) : undefined;
    if (!stream || message.type !== "output") {
      this.flush();
      this.write(message);
      return;
    }
    const pending = this.pending;
    if (pending && pending.executionId === message.executionId && streamOf(pending) === stream) {
      const item = pending.output.items[0];
      item.data = (item.data as string) + (message.output.items[0].data as string);
    } else {
      this.flush();
      this.pending = message;
    }
    if ((this.pending!.output.items[0].data as string).length >= BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) this.write(pending);
  }
}

function streamOf(message: CellOutputMessage): string | undefined {
  const stream = message.output.metadata?.stream;
  return typeof stream === "string" && message.output.items.length === 1 ? stream : undefined;
}
