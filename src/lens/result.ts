/**
 * What every toolkit result has: an id the kernel can find it by (click-to-patch), a JSON form, and a
 * display as its view's mime with a markdown fallback (so the CLI's output and a file read outside
 * VS Code still say what was found) and a one-line summary in the output's metadata.
 */
import { randomUUID } from "node:crypto";
import { VIEW_MIMES, type ViewKind, type ViewPayloads } from "../protocol";

/** This process's results: one kernel is one process, so a view asks for (session, id). */
export const KERNEL_SESSION = randomUUID();

const MAX_KEPT = 200;
const kept = new Map<string, LensResult<ViewKind>>();
let counter = 0;

export abstract class LensResult<K extends ViewKind> {
  /** Stable within this kernel; views send it back when they ask for a re-run. */
  readonly id: string;
  abstract readonly view: K;

  constructor() {
    this.id = `r${++counter}`;
    kept.set(this.id, this as unknown as LensResult<ViewKind>);
    // Oldest first: a notebook re-run many times must not keep every sweep alive.
    if (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value!);
  }

  /** The view's payload (see src/protocol/views.ts). */
  abstract payload(): ViewPayloads[K];
  /** Markdown saying what was found, shown where the view cannot be drawn. */
  abstract markdown(): string;
  /** One line, e.g. "head heatmap 4x4, top a3.h2 -18.9". */
  abstract summary(): string;

  toJSON(): ViewPayloads[K] {
    return this.payload();
  }

  toSteerOutput(): { items: { mime: string; data: unknown }[]; metadata: Record<string, unknown> } {
    return {
      items: [
        { mime: VIEW_MIMES[this.view], data: this.payload() },
        { mime: "text/markdown", data: this.markdown() },
      ],
      metadata: { summary: this.summary() },
    };
  }

  toString(): string {
    return this.summary();
  }
}

/** A result this kernel produced and still keeps, or undefined. */
export function findResult(id: string): LensResult<ViewKind> | undefined {
  return kept.get(id);
}
