/**
 * How many threads a run uses when the caller did not fix it. llama.cpp's workers spin at every
 * barrier inside a graph compute, so a worker that another process pushes off its core stalls all
 * the others (seen on 2 cores with a busy neighbour: 2 threads 10x slower than 1). Before each run
 * we therefore count the other runnable tasks right now and leave them their cores; on an idle
 * machine that is every core. The pool's idle workers sleep (threadPoll 0), so they are not counted.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Tasks that want a CPU right now besides the caller, from /proc/loadavg's "running/total"; null where there is no such file. */
function otherRunnable(): number | null {
  try {
    const running = Number(readFileSync("/proc/loadavg", "latin1").split(" ")[3]?.split("/")[0]);
    return Number.isFinite(running) ? Math.max(0, running - 1) : null;
  } catch {
    return null;
  }
}

/**
 * Threads for the next run: the cores nobody else wants now, at least 1, at most `poolSize`.
 * `others` and `cores` default to this machine now (given only by tests).
 */
export function freeCoreThreads(poolSize: number, others = otherRunnable(), cores = availableParallelism()): number {
  // Without a live count, leave one core to the rest of the system (the safe old default).
  const free = others === null ? cores - 1 : cores - others;
  return Math.max(1, Math.min(poolSize, free));
}
