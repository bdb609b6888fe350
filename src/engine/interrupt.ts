/**
 * The interrupt flag the engine honours: an Int32Array (normally over a SharedArrayBuffer that
 * another thread writes); index 0 != 0 asks the running decode to stop. The kernel owns the flag
 * and clears it; the engine only reads it (llama.cpp's abort callback reads it from native code).
 */
let flag: Int32Array | null = null;
const listeners = new Set<(flag: Int32Array | null) => void>();

export function setInterruptFlag(f: Int32Array | null): void {
  if (f && (f.length < 1 || !(f instanceof Int32Array))) throw new TypeError("setInterruptFlag needs an Int32Array with at least one element.");
  flag = f;
  for (const l of listeners) l(f);
}

export function currentInterruptFlag(): Int32Array | null {
  return flag;
}

export function interruptRequested(): boolean {
  return flag !== null && Atomics.load(flag, 0) !== 0;
}

/** Calls `fn` whenever the flag is replaced; returns the unsubscribe function. */
export function onInterruptFlagChange(fn: (flag: Int32Array | null) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
