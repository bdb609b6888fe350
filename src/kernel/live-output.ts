/**
 * Outputs that update in place, as Jupyter's display ids: `display(value, { id })` returns a handle
 * whose `update(value)` replaces that output, and `steer.progress(total, label)` is a progress line
 * (text and a bar in VS Code's colours) advancing through one display id. Ids are per cell run.
 */
import { toCellOutput } from "./display";
import { emitOutput } from "./output-channel";
import { escapeHtml, PROGRESS_ID_PREFIX, type CellOutput } from "../protocol";

export interface DisplayOptions {
  /** Forces the output type, as `display(value, mime)` does. */
  mime?: string;
  /** Display id: a later display with the same id (or `handle.update`) replaces this output. */
  id?: string;
}

export class DisplayHandle {
  constructor(
    readonly id: string,
    private readonly mime?: string,
  ) {}

  /** Replaces the output shown under this id. */
  update(value: unknown): void {
    emitOutput(toCellOutput(value, this.mime), this.id);
  }
}

/** Shows a value below the cell now (the cell keeps running). A mime forces the output type; an id makes it updatable. */
export function display(value: unknown, options: DisplayOptions & { id: string }): DisplayHandle;
export function display(value: unknown, mimeOrOptions?: string | DisplayOptions): void;
export function display(value: unknown, mimeOrOptions?: string | DisplayOptions): DisplayHandle | void {
  const options = typeof mimeOrOptions === "string" ? { mime: mimeOrOptions } : (mimeOrOptions ?? {});
  if (typeof options !== "object") throw new TypeError(`display(value, options) takes a mime string or { mime?, id? }, got ${typeof options}.`);
  const { mime, id } = options;
  if (mime !== undefined && typeof mime !== "string") throw new TypeError(`display's mime must be a string such as "text/html", got ${typeof mime}.`);
  if (id === undefined) {
    emitOutput(toCellOutput(value, mime));
    return;
  }
  if (typeof id !== "string" || id === "") throw new TypeError(`display's id must be a non-empty string (the name later displays replace), got ${JSON.stringify(id)}.`);
  const handle = new DisplayHandle(id, mime);
  handle.update(value);
  return handle;
}

// Enough for a smooth bar; a sweep of thousands of small batches does not flood the host.
const PROGRESS_INTERVAL_MS = 100;
let nextProgress = 1;

/** A progress line updated in place; the last state stays as a "done in N ms" line, as tqdm leaves it. */
export class Progress {
  readonly id = `${PROGRESS_ID_PREFIX}${nextProgress++}`;
  private readonly started: number;
  private lastSent = 0;
  private count: number;
  private finished = false;

  /** `from`: for a bar that starts late (a sweep's first report), the count so far and when the work began. */
  constructor(
    private total: number,
    readonly label = "progress",
    from: { done: number; startedAt: number } = { done: 0, startedAt: Date.now() },
  ) {
    checkCount(total, "total", "the number of steps, a positive integer", true);
    this.count = from.done;
    this.started = from.startedAt;
    this.emit("");
  }

  /** Sets how many steps are done (and the total, when it changed); shown at most every 100 ms, and always on reaching the total. */
  update(done: number, total?: number): void {
    if (this.finished) return;
    checkCount(done, "done", "a count of finished steps, a number >= 0");
    if (total !== undefined) {
      checkCount(total, "total", "the number of steps, a positive integer", true);
      this.total = total;
    }
    this.count = done;
    if (done >= this.total || Date.now() - this.lastSent >= PROGRESS_INTERVAL_MS) this.emit("");
  }

  /** The final line: the count reached and the time taken. Later updates are ignored. */
  done(): void {
    this.finish(`done in ${Date.now() - this.started} ms`);
  }

  /** The final line of a run that ended early (an error or an interrupt). */
  stopped(): void {
    this.finish(`stopped after ${Date.now() - this.started} ms`);
  }

  private finish(note: string): void {
    if (this.finished) return;
    this.finished = true;
    this.emit(note);
  }

  private emit(note: string): void {
    this.lastSent = Date.now();
    emitOutput(progressOutput(this.label, this.count, this.total, note), this.id);
  }
}

function checkCount(n: number, name: string, what: string, positive = false): void {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || (positive && !(Number.isInteger(n) && n > 0))) {
    throw new TypeError(`progress ${name} must be ${what}, got ${String(n)}.`);
  }
}

function progressOutput(label: string, done: number, total: number, note: string): CellOutput {
  const percent = Math.min(100, Math.round((100 * done) / total));
  const status = `${done}/${total} (${percent}%)${note ? ` ${note}` : ""}`;
  const bar =
    `<div style="display:flex;align-items:center;gap:8px;font-family:var(--vscode-font-family)">` +
    `<span>${escapeHtml(label)}</span>` +
    `<div style="flex:0 1 240px;height:6px;border-radius:3px;background:var(--vscode-editorWidget-border,#8884)">` +
    `<div style="width:${percent}%;height:100%;border-radius:3px;background:var(--vscode-progressBar-background,#0e70c0)"></div></div>` +
    `<span>${escapeHtml(status)}</span></div>`;
  return { items: [{ mime: "text/html", data: bar }, { mime: "text/plain", data: `${label}: ${status}` }] };
}


/** Handles shown as a cell's last expression would only print as objects: the executor skips them. */
export function isLiveHandle(value: unknown): boolean {
  return value instanceof DisplayHandle || value instanceof Progress;
}
