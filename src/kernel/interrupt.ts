/**
 * Interrupt state shared by the kernel's two threads. The I/O worker sets `interruptFlag[0]` the
 * moment an interrupt request arrives, even while the main thread is stuck in a synchronous loop;
 * the compiled cell code polls it (see rewrite.ts), and native code (the engine's abort callback)
 * can read it from any thread.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** Index 0 != 0 while an interrupt is requested. Cleared when the running cell ends. */
export const interruptFlag = new Int32Array(new SharedArrayBuffer(4));

export class InterruptedError extends Error {
  override readonly name = "InterruptedError";
  constructor(message = "The cell was interrupted.") {
    super(message);
  }
}

/** The execution a piece of cell code belongs to, carried across awaits and timers. */
export interface ExecutionContext {
  executionId: string;
  /** Set once the cell was interrupted: its leftover callbacks and awaits stop at their next check. */
  cancelled: boolean;
}

export const executionContext = new AsyncLocalStorage<ExecutionContext>();

// Only after some cell was cancelled can leftover code of it still run, so only then is the
// async-context lookup worth its cost in every loop iteration.
let cancelledSoFar = 0;

export function markCancelled(context: ExecutionContext): void {
  if (!context.cancelled) cancelledSoFar++;
  context.cancelled = true;
}

export function interruptRequested(): boolean {
  return Atomics.load(interruptFlag, 0) !== 0;
}

export function clearInterrupt(): void {
  Atomics.store(interruptFlag, 0, 0);
}

/** Called by compiled cell code at every loop iteration and function entry. Must stay cheap. */
export function checkInterrupt(): void {
  if (Atomics.load(interruptFlag, 0) !== 0) throw new InterruptedError();
  if (cancelledSoFar !== 0 && executionContext.getStore()?.cancelled) throw new InterruptedError();
}
