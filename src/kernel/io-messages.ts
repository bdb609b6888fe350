/** Messages between the kernel's main thread and its I/O worker (io-worker.ts). */
import type { HostToKernel } from "../protocol";

export interface IoWorkerData {
  socketPath: string;
  /** The SharedArrayBuffer behind interruptFlag. */
  flag: SharedArrayBuffer;
}

export type IoToMain = { kind: "message"; message: HostToKernel } | { kind: "disconnected"; reason: string };
