/**
 * setTimeout/setInterval/setImmediate as cells see them: a callback whose cell was interrupted does
 * not run (and its interval is cleared), so interrupting a cell also stops the polling it started.
 * Everything else is Node's own timers.
 */
import { promisify } from "node:util";
import { inCancelledCell } from "./interrupt";

type Callback = (...args: unknown[]) => void;

export function guardTimers(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const { setTimeout: timeout, setInterval: interval, setImmediate: immediate, clearInterval } = globalThis;

  const wrap = <F extends (callback: Callback, ...rest: any[]) => any>(original: F, onCancelled?: (handle: unknown) => void): F => {
    const wrapped = function (this: unknown, callback: Callback, ...rest: unknown[]) {
      if (typeof callback !== "function") return original.call(this, callback, ...rest);
      const guarded = function (this: unknown, ...args: unknown[]) {
        if (inCancelledCell()) {
          onCancelled?.(handle);
          return;
        }
        return callback.apply(this, args);
      };
      // Timers never call back synchronously, so `handle` is set by the time `guarded` runs.
      const handle: unknown = original.call(this, guarded, ...rest);
      return handle;
    } as unknown as F;
    const custom = (original as unknown as Record<symbol, unknown>)[promisify.custom];
    if (custom) Object.defineProperty(wrapped, promisify.custom, { value: custom });
    return wrapped;
  };

  g.setTimeout = wrap(timeout);
  g.setInterval = wrap(interval, (handle) => clearInterval(handle as NodeJS.Timeout));
  g.setImmediate = wrap(immediate);
}
