/**
 * Interrupt state shared by the kernel's two threads. The I/O worker sets `interruptFlag[0]` the
 * moment an interrupt request arrives, even while the main thread is stuck in a synchronous loop;
 * the compiled cell code polls it (see rewrite.ts), and native code (the engine's abort callback)
 * can read it from any thread.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { InterruptedError } from "../engine/errors";

/** Index 0 != 0 while an interrupt is requested. Cleared when the running cell ends. */
export const interruptFlag = new Int32Array(new SharedArrayBuffer(4));

export const CELL_INTERRUPTED = "The cell was interrupted.";

// One InterruptedError for the whole codebase: the engine's decode throws it too.
export { InterruptedError };

/** The execution a piece of cell code belongs to, carried across awaits and timers. */
export interface ExecutionContext {
  executionId: string;
  /** Set once the cell was interrupted: its leftover awaits and timers stop instead of running on. */
  cancelled: boolean;
}

export const executionContext = new AsyncLocalStorage<ExecutionContext>();

export function interruptRequested(): boolean {
  return Atomics.load(interruptFlag, 0) !== 0;
}

export function clearInterrupt(): void {
  Atomics.store(interruptFlag, 0, 0);
}

/** True when the code running now belongs to a cell that was interrupted. */
export function inCancelledCell(): boolean {
  return executionContext.getStore()?.cancelled === true;
}

/**
 * Throws InterruptedError when an interrupt is requested, or when called from leftover code of an
 * interrupted cell. Compiled cells call it only after their own inline read of the flag saw it set.
 */
export function checkInterrupt(): void {
  if (Atomics.load(interruptFlag, 0) !== 0 || inCancelledCell()) throw new InterruptedError(CELL_INTERRUPTED);
}

/** Wraps every `await` in cell code: an interrupted cell's await that settles later goes no further. */
export function afterAwait<T>(value: T): T {
  if (inCancelledCell()) throw new InterruptedError(CELL_INTERRUPTED);
  return value;
}
